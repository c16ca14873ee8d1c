import { parseArgs, type ParseArgsConfig } from "node:util";
import { TruecastError } from "../errors.js";
import { closest } from "./suggest.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Flags every command takes. */
export const COMMON_OPTIONS = {
  json: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  debug: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies Options;

/** How one option relates to the others: it only means something with `with`, or it cannot go with `not`. */
export interface OptionRule {
  readonly option: string;
  readonly with?: string;
  readonly not?: string;
  /** Why, in a few words, for the message. */
  readonly because: string;
}

/** What parseArgs says about an unknown option, with a suggestion when one of the known options is near. */
function usageMessage(e: Error, command: string, options: Options): string {
  const code = (e as NodeJS.ErrnoException).code;
  const see = `see \`truecast ${command} --help\``;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const m = /Unknown option '(-{1,2}[^']*)'/.exec(e.message);
    const given = m?.[1] ?? "";
    const bare = given.replace(/^-+/, "").replace(/=.*$/, "");
    const near = closest(bare, Object.keys(options));
    return `unknown option ${given}${near ? `; did you mean --${near}?` : ""} (${see})`;
  }
  return `${e.message.replace(/\.$/, "")}; ${see}`;
}

/**
 * Parse a command's arguments strictly; anything unknown or missing is a usage error (exit 2), and so is an option
 * given where it does nothing (`rules`), so that no option is ever silently ignored.
 */
export function parseCommand<O extends Options>(params: {
  command: string;
  argv: string[];
  options: O;
  /** Names of the positional arguments, in order; a trailing `name?` may be left out. */
  positionals: readonly string[];
  usage: string;
  rules?: readonly OptionRule[];
}): { values: { [K in keyof O]?: O[K]["type"] extends "boolean" ? boolean : string }; positionals: string[]; help: boolean } {
  let parsed;
  try {
    parsed = parseArgs({ args: params.argv, options: params.options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new TruecastError("USAGE", usageMessage(e as Error, params.command, params.options));
  }
  const values = parsed.values as { [K in keyof O]?: O[K]["type"] extends "boolean" ? boolean : string };
  const given = parsed.values as Record<string, unknown>;
  if (given["help"] === true) return { values, positionals: parsed.positionals, help: true };
  // A name ending in "?" may be left out (trailing ones only): `["source", "out?"]`.
  const required = params.positionals.filter((p) => !p.endsWith("?")).length;
  if (parsed.positionals.length < required || parsed.positionals.length > params.positionals.length) {
    const want = params.positionals.map((p) => (p.endsWith("?") ? `[<${p.slice(0, -1)}>]` : `<${p}>`)).join(" ");
    throw new TruecastError("USAGE", `\`truecast ${params.command}\` takes ${want}; usage: ${params.usage.split("\n")[0]}`);
  }
  for (const rule of params.rules ?? []) {
    if (given[rule.option] === undefined) continue;
    if (rule.with !== undefined && given[rule.with] === undefined) {
      throw new TruecastError("USAGE", `--${rule.option} goes with --${rule.with} (${rule.because}); see \`truecast ${params.command} --help\``);
    }
    if (rule.not !== undefined && given[rule.not] !== undefined) {
      throw new TruecastError("USAGE", `--${rule.option} cannot go with --${rule.not} (${rule.because}); see \`truecast ${params.command} --help\``);
    }
  }
  return { values, positionals: parsed.positionals, help: false };
}
