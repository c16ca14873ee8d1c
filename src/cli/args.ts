import { parseArgs, type ParseArgsConfig } from "node:util";
import { TruecastError } from "../errors.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Flags every command takes. */
export const COMMON_OPTIONS = {
  json: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  debug: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies Options;

/** Parse a command's arguments strictly; anything unknown or missing is a usage error (exit 2). */
export function parseCommand<O extends Options>(params: {
  command: string;
  argv: string[];
  options: O;
  positionals: readonly string[];
  usage: string;
}): { values: { [K in keyof O]?: O[K]["type"] extends "boolean" ? boolean : string }; positionals: string[]; help: boolean } {
  let parsed;
  try {
    parsed = parseArgs({ args: params.argv, options: params.options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new TruecastError("USAGE", `${(e as Error).message.replace(/\.$/, "")}; see \`truecast ${params.command} --help\``);
  }
  const values = parsed.values as { [K in keyof O]?: O[K]["type"] extends "boolean" ? boolean : string };
  if ((parsed.values as Record<string, unknown>)["help"] === true) return { values, positionals: parsed.positionals, help: true };
  if (parsed.positionals.length !== params.positionals.length) {
    const want = params.positionals.map((p) => `<${p}>`).join(" ");
    throw new TruecastError("USAGE", `\`truecast ${params.command}\` takes ${want}; usage: ${params.usage.split("\n")[0]}`);
  }
  return { values, positionals: parsed.positionals, help: false };
}
