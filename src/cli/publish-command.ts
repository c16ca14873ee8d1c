import { resolve } from "node:path";
import { publishFolder } from "../hub/publish-folder.js";
import { COMMON_OPTIONS, parseCommand } from "./args.js";
import { HUB_OPTIONS, HUB_USAGE, hubSettings, showPublishProgress } from "./hub-options.js";
import type { CliIo } from "./io.js";
import { Progress } from "./progress.js";
import { terminalLines } from "./terminal-text.js";

export const PUBLISH_USAGE = `truecast publish <folder> <repo_id> [options]

Publish a model folder to the Hugging Face Hub in one commit: the folder is checked first (strict safetensors
checks, index consistency, config.json dtype = tensors), uploads resume after a failure, and the remote copy is
verified afterwards (file list, sizes, LFS sha256, safetensors headers).

Options:
${HUB_USAGE}
  --force                  publish even if the folder check fails (the report records it)
  --json                   print the report as JSON on stdout
  --quiet, -q              print nothing but errors
  --debug                  show stack traces on errors`;

export async function publishCommand(argv: string[], io: CliIo): Promise<number> {
  const args = parseCommand({
    command: "publish",
    argv,
    options: { ...COMMON_OPTIONS, ...HUB_OPTIONS, force: { type: "boolean" } },
    positionals: ["folder", "repo_id"],
    usage: PUBLISH_USAGE,
  });
  if (args.help) {
    io.stdout.write(PUBLISH_USAGE + "\n");
    return 0;
  }
  const [folder, repoId] = args.positionals as [string, string];
  const v = args.values;
  const progress = new Progress(io, v.quiet === true || v.json === true);
  const report = await publishFolder({
    folder: resolve(io.cwd, folder),
    repoId,
    ...(await hubSettings(v, io)),
    ...(v["commit-message"] !== undefined ? { commitMessage: v["commit-message"] } : {}),
    force: v.force === true,
    onProgress: showPublishProgress(progress),
  });
  progress.end();
  if (v.json === true) io.stdout.write(JSON.stringify(report, null, 2) + "\n");
  else if (v.quiet !== true) {
    io.stdout.write(terminalLines([...report.problems.map((p) => `  problem (published with --force): ${p}`), report.summary]));
  }
  return 0;
}
