import { isTruecastError } from "../errors.js";
import { truecastVersion } from "../version.js";
import { auditCommand } from "./audit-command.js";
import { exportCommand } from "./export-command.js";
import { inspectCommand } from "./inspect-command.js";
import { publishCommand } from "./publish-command.js";
import { EXIT, type CliIo } from "./io.js";
import { closest } from "./suggest.js";
import { escapeTerminal, terminalLines } from "./terminal-text.js";

export const MAIN_USAGE = `truecast: turn fine-tuned LLM checkpoints into Hugging Face model repositories, bit for bit

Usage:
  truecast export <source> <out> [options]     export a checkpoint as a safetensors folder
  truecast inspect <path> [options]            show tensors, dtypes, shards and config.json's claims
  truecast publish <folder> <repo_id>          publish a folder to the Hugging Face Hub in one verified commit
  truecast audit <source> [--values]           check a model is intact: dtypes, shards, tied head, pickles,
                                               overflow and NaN (exit 1 when an error is found)
  truecast help <command>                      a command's options (same as \`truecast <command> --help\`)
  truecast --version, -V

Run \`truecast <command> --help\` for a command's options.`;

type Command = (argv: string[], io: CliIo) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  export: exportCommand,
  inspect: inspectCommand,
  publish: publishCommand,
  audit: auditCommand,
};

/** A stack trace for --debug: its first line may quote file contents (and hold newlines), so it is escaped whole. */
function stackText(e: Error): string {
  if (!e.stack) return "";
  const head = `${e.name}: ${e.message}`;
  const frames = e.stack.startsWith(head) ? e.stack.slice(head.length).split("\n").slice(1) : e.stack.split("\n");
  return terminalLines(e.stack.startsWith(head) ? [head, ...frames] : frames);
}

function unknownCommand(name: string, io: CliIo): number {
  const near = closest(name, Object.keys(COMMANDS));
  io.stderr.write(`truecast: unknown command "${escapeTerminal(name)}";${near ? ` did you mean \`truecast ${near}\`?` : ""} run \`truecast --help\` for the commands\n`);
  return EXIT.usage;
}

/** Run the CLI; returns the exit code. Only this function decides exit codes. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const debug = argv.includes("--debug");
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(MAIN_USAGE + "\n");
    return EXIT.usage;
  }
  if (name === "--help" || name === "-h") {
    io.stdout.write(MAIN_USAGE + "\n");
    return EXIT.ok;
  }
  if (name === "help") {
    // `truecast help export` is `truecast export --help`.
    const topic = rest[0];
    if (topic === undefined) {
      io.stdout.write(MAIN_USAGE + "\n");
      return EXIT.ok;
    }
    if (!COMMANDS[topic]) return unknownCommand(topic, io);
    return runCli([topic, "--help"], io);
  }
  if (name === "--version" || name === "-V" || name === "-v") {
    io.stdout.write(truecastVersion() + "\n");
    return EXIT.ok;
  }
  const command = COMMANDS[name];
  if (!command) return unknownCommand(name, io);
  try {
    return await command(rest, io);
  } catch (e) {
    if (isTruecastError(e)) {
      io.stderr.write(`truecast: ${escapeTerminal(e.message)}\n`);
      if (debug) io.stderr.write(stackText(e));
      return e.code === "USAGE" ? EXIT.usage : EXIT.failure;
    }
    const err = e as Error;
    io.stderr.write(`truecast: unexpected error: ${escapeTerminal(err.message ?? String(e))}${debug ? "" : " (run with --debug for details)"}\n`);
    if (debug) io.stderr.write(stackText(err));
    return EXIT.failure;
  }
}
