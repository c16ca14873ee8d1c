import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { TruecastError } from "../errors.js";
import { checkedFolder, defaultCommitSummary, publishFolder } from "../hub/publish-folder.js";
import { checkPushTarget, planRequests, predictUpload } from "../hub/push-plan.js";
import { configName } from "../dtype/table.js";
import { dryRunJson, type PublishDryRunReport } from "./dry-run-json.js";
import { formatPublishDryRun } from "./format-dry-run.js";
import { COMMON_OPTIONS, parseCommand } from "./args.js";
import { formatPublished, HUB_OPTIONS, HUB_USAGE, hubSettings, showPublishProgress, type HubFlags } from "./hub-options.js";
import { reportJson } from "../export/report-json.js";
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
  --dry-run                check the folder, the token and the repo (GET requests only) and print what would be
                           published: each file, whether it would go through LFS (over 10 MB always; else as
                           the Hub's default .gitattributes says, predicted: the Hub's preupload answer is not
                           asked), total bytes, the commit's title, the target and the write calls; nothing is
                           uploaded or committed
  --json                   print the report as JSON on stdout (with --dry-run: {dryRun: true, plan})
  --quiet, -q              print nothing but errors
  --debug                  show stack traces on errors`;

async function isFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** `truecast publish acme/model ./export` is the order `hf upload` uses: say so instead of "does not exist". */
async function checkArgumentOrder(folder: string, repoId: string, cwd: string): Promise<void> {
  if ((await isFolder(resolve(cwd, folder))) || !(await isFolder(resolve(cwd, repoId)))) return;
  throw new TruecastError(
    "USAGE",
    `${folder} is not a folder but ${repoId} is: the folder comes first (\`truecast publish <folder> <repo_id>\`; \`hf upload\` takes them the other way round); did you mean \`truecast publish ${repoId} ${folder}\`?`,
  );
}

/**
 * `publish --dry-run`: the real run's checks in its order (the folder, then the token and the repo, by GETs only)
 * and the files and write calls it would make; returns 0 when the real run would start.
 */
async function publishDryRun(folder: string, repoId: string, v: HubFlags & { force?: boolean; json?: boolean }, io: CliIo): Promise<number> {
  const { local, check } = await checkedFolder(folder, v.force === true);
  const target = await checkPushTarget({ repoId, ...(await hubSettings(v, io)) });
  const files = local.map((f) => predictUpload(f.pathInRepo, f.size));
  const report: PublishDryRunReport = {
    command: "publish",
    dryRun: true,
    plan: {
      folder,
      files,
      totalBytes: local.reduce((n, f) => n + f.size, 0),
      problems: check.problems,
      dtype: check.dtype ? configName(check.dtype) : null,
      target,
      requests: planRequests(target, files),
      commitSummary: v["commit-message"] ?? defaultCommitSummary(folder),
    },
  };
  if (v.json === true) io.stdout.write(dryRunJson(report));
  else if (v.quiet !== true) io.stdout.write(formatPublishDryRun(report));
  return 0;
}

/** `truecast publish <folder> <repo_id>`: publish in one verified commit; returns the exit code. */
export async function publishCommand(argv: string[], io: CliIo): Promise<number> {
  const args = parseCommand({
    command: "publish",
    argv,
    options: { ...COMMON_OPTIONS, ...HUB_OPTIONS, force: { type: "boolean" }, "dry-run": { type: "boolean" } },
    positionals: ["folder", "repo_id"],
    usage: PUBLISH_USAGE,
  });
  if (args.help) {
    io.stdout.write(PUBLISH_USAGE + "\n");
    return 0;
  }
  const [folder, repoId] = args.positionals as [string, string];
  const v = args.values;
  await checkArgumentOrder(folder, repoId, io.cwd);
  if (v["dry-run"] === true) return publishDryRun(resolve(io.cwd, folder), repoId, v, io);
  const progress = new Progress(io, v.quiet === true);
  const report = await publishFolder({
    folder: resolve(io.cwd, folder),
    repoId,
    ...(await hubSettings(v, io)),
    ...(v["commit-message"] !== undefined ? { commitMessage: v["commit-message"] } : {}),
    force: v.force === true,
    onProgress: showPublishProgress(progress),
  });
  progress.end();
  if (v.json === true) io.stdout.write(reportJson(report));
  else if (v.quiet !== true) {
    if (report.problems.length > 0) io.stdout.write(terminalLines(report.problems.map((p) => `  problem (published with --force): ${p}`)));
    io.stdout.write(formatPublished(report));
  }
  return 0;
}
