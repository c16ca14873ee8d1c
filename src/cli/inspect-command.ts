import { resolve } from "node:path";
import { inspectSource } from "../export/inspect.js";
import { openSource } from "../sources/open.js";
import { COMMON_OPTIONS, parseCommand } from "./args.js";
import { formatInspect } from "./format.js";
import { writeReportJson } from "../export/report-json.js";
import { sourceArg, type CliIo } from "./io.js";

export const INSPECT_USAGE = `truecast inspect <path> [options]

Show what a checkpoint holds: tensors, parameters, dtypes by bytes, shards, metadata, and whether
config.json's dtype matches the tensors. <path> is anything \`truecast export\` accepts.

Options:
  --all         list every tensor (default: the first 20)
  --base DIR    the base model's folder (for an H2O experiment without config.json)
  --json        print the report as JSON on stdout
  --quiet, -q   print nothing; the exit code says whether the checkpoint reads cleanly
  --debug       show stack traces on errors`;

/** `truecast inspect <path>`: describe a checkpoint; returns the exit code. */
export async function inspectCommand(argv: string[], io: CliIo): Promise<number> {
  const args = parseCommand({
    command: "inspect",
    argv,
    options: { ...COMMON_OPTIONS, all: { type: "boolean" }, base: { type: "string" } },
    positionals: ["path"],
    usage: INSPECT_USAGE,
  });
  if (args.help) {
    io.stdout.write(INSPECT_USAGE + "\n");
    return 0;
  }
  const [path] = args.positionals as [string];
  const model = await openSource(sourceArg(io.cwd, path), {
    env: io.env,
    ...(args.values.base !== undefined ? { baseDir: resolve(io.cwd, args.values.base) } : {}),
    ...(io.fetch ? { fetch: io.fetch } : {}),
  });
  try {
    const report = await inspectSource(model);
    if (args.values.json === true) await writeReportJson({ ...report }, (t) => io.stdout.write(t));
    else if (args.values.quiet !== true) io.stdout.write(formatInspect(report, args.values.all === true));
  } finally {
    await model.close();
  }
  return 0;
}
