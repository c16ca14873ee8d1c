import { resolve } from "node:path";
import { TruecastError } from "../errors.js";
import { dtypePolicy, exportModel, type ExportReport } from "../export/export.js";
import { writeReportJson } from "../export/report-json.js";
import { openForExport } from "../export/open-for-export.js";
import type { DtypePolicy } from "../export/plan.js";
import { parseSize } from "../export/units.js";
import { createExportPublisher } from "../hub/export-push.js";
import { preflightExport } from "../export/preflight.js";
import { createUploadSession } from "../hub/upload-session.js";
import { COMMON_OPTIONS, parseCommand } from "./args.js";
import { formatExport, formatLora } from "./format.js";
import { formatPublished, HUB_OPTION_RULES, HUB_OPTIONS, HUB_USAGE, hubSettings, showPublishProgress } from "./hub-options.js";
import { sourceArg, type CliIo } from "./io.js";
import { isHubSpec } from "../store/hub-spec.js";
import { Progress } from "./progress.js";
import { auditSource, PushStaging, withCommitExtras } from "./export-push-extras.js";
import type { AuditSummary } from "../hub/pr-description.js";
import { exportDryRun } from "./export-dry-run.js";

export const EXPORT_USAGE = `truecast export <source> <out> [options]
       truecast export <source> --push REPO_ID [options]
       truecast export <source> [<out>] --dry-run [options]

Export a checkpoint as a Hugging Face safetensors folder, bit for bit unless a conversion is asked for.
<source> is a .safetensors file, a PyTorch .bin/.pt/.pth state dict, a Hugging Face model folder
(safetensors or PyTorch weights, single or sharded), a folder holding one such checkpoint file, or an H2O
LLM Studio experiment folder. config.json, tokenizer and generation_config.json files beside a checkpoint
file travel with it. Every path and option, and the Hub token and repo with --push, are checked before any
work; a Hub repo is created only right before the first upload, and deleted again if the run fails before its commit
(kept, to resume from, when shards were uploaded and the network, the Hub or an interruption stopped the run).
The export is written to a hidden folder beside <out> (.<out>.truecast-<pid>-<host tag><hex>) and moved into place
at the end; Ctrl-C, SIGTERM and SIGHUP remove it, and the next export into the same parent folder removes
those left by runs that were killed. Files linked from outside the source folder are never carried.
With --push and no <out>, the shards in flight are staged in a private temporary folder under TMPDIR (free space
is checked for about two shards, not the model), each deleted once uploaded; the folder is removed at the end, and
one left by a run killed outright is removed by the next. <source> may be a Hub repo read in place
(hf://org/name[@rev]): \`export hf://org/name --push org/name --create-pr --replace-weights\` converts a repo to
safetensors in one pull request.
The card and truecast-report.json list each source weight file's SHA-256. A local file's digest is kept in
$TRUECAST_CACHE/digests (else ~/.cache/truecast/digests) and taken again, without reading the file, while it is
unchanged (same device, inode, size, mtime and ctime); the report marks such a digest "fromCache": true.

Options:
  --dtype keep|bfloat16|float16|float32   dtype of floating tensors in the output (default keep: copy bytes)
  --allow-overflow         allow a conversion that turns finite values into ±inf
  --max-shard-size SIZE    tensor bytes per shard, decimal units: 64KB, 500MB, 5GB (default 5GB)
  --force                  replace a non-empty <out>
  --adapter DIR            merge this PEFT LoRA adapter into the source (in float32, rounded once)
  --base DIR|ORG/NAME      the base model (a folder, or a Hub id found in the Hugging Face cache or downloaded):
                           supplies config.json, tokenizer and generation files the source lacks (the source's
                           own files win; the report lists what came from it); for an H2O experiment also its
                           files and int4/int8 base weights. A --base that adds nothing is a usage error
  --model-card FILE        use FILE as README.md instead of the generated model card
  --license ID             license for the model card's front matter (apache-2.0, llama3.1, ...)
  --push REPO_ID           also publish to the Hub in one commit, uploading each shard as soon as it is
                           written and deleting it locally (so the model need not fit on disk); after a
                           failed or interrupted run, the same command again skips the shards already on
                           the Hub (neither read nor sent again; journal in $TRUECAST_CACHE, else ~/.cache/truecast)
  --keep-local             with --push, keep the exported folder at <out> (needs <out>)
  --replace-weights        with --push, the same commit deletes the revision's weight files the export does not
                           write (pytorch_model*.bin, *.bin.index.json, stale model*.safetensors and index,
                           top-level .pt/.pth); nothing else. The commit's description (the pull request's with
                           --create-pr) holds the precision report, the digests and the audit before and after
${HUB_USAGE}
  --dry-run                make every check the real run makes before its first byte (paths, output, --force,
                           config, carried files, free space; with --push the token, repo and branch by GET
                           requests only), open the source and print the plan: each file that would be written
                           (shards with tensors and bytes, index, carried files and where from, README, report),
                           each dtype conversion, the merge, with --push the target and the uploads and write
                           calls, and the source's audit (headers only). Nothing is written, uploaded or committed;
                           nothing is downloaded into the Hugging Face cache (--base ORG/NAME is looked up
                           there only); <out> may be left out. Exit 0 when the real run would start, else its error.
                           Not known without reading every value: whether a conversion overflows (the real run
                           refuses it then, unless --allow-overflow; \`truecast audit --values\` tells beforehand)
  --json                   print the whole report as JSON on stdout (with --dry-run: {dryRun: true, plan, audit})
  --quiet, -q              print nothing but errors
  --debug                  show stack traces on errors`;

export const EXPORT_OPTIONS = {
  ...COMMON_OPTIONS,
  ...HUB_OPTIONS,
  dtype: { type: "string" },
  "allow-overflow": { type: "boolean" },
  "max-shard-size": { type: "string" },
  force: { type: "boolean" },
  adapter: { type: "string" },
  base: { type: "string" },
  "model-card": { type: "string" },
  license: { type: "string" },
  push: { type: "string" },
  "keep-local": { type: "boolean" },
  "replace-weights": { type: "boolean" },
  "dry-run": { type: "boolean" },
} as const;

/** Options that only mean something together, or that contradict each other. */
const EXPORT_RULES = [
  ...HUB_OPTION_RULES,
  { option: "keep-local", with: "push", because: "without --push the folder is always kept" },
  { option: "replace-weights", with: "push", because: "it deletes files of the Hub revision pushed to" },
  { option: "license", not: "model-card", because: "the license goes into the generated card; put it in your own card's front matter" },
];

/** `--dtype`: keep, or a floating dtype; anything else is a usage error naming the flag. */
export function parseDtypePolicy(text: string | undefined): DtypePolicy {
  try {
    return dtypePolicy(text);
  } catch {
    throw new TruecastError("USAGE", `--dtype ${text} is not one of keep, bfloat16, float16, float32`);
  }
}

/** `truecast export <source> <out>`: parse, open (merging an adapter if asked), export, report; returns the exit code. */
export async function exportCommand(argv: string[], io: CliIo): Promise<number> {
  const args = parseCommand({ command: "export", argv, options: EXPORT_OPTIONS, positionals: ["source", "out?"], usage: EXPORT_USAGE, rules: EXPORT_RULES });
  if (args.help) {
    io.stdout.write(EXPORT_USAGE + "\n");
    return 0;
  }
  const [source, out] = args.positionals as [string, string | undefined];
  const v = args.values;
  if (out !== undefined || v["dry-run"] === true) return exportTo(source, out, v, io);
  if (v.push === undefined) throw new TruecastError("USAGE", `\`truecast export\` takes <source> <out>; <out> may be left out only with --push or --dry-run; usage: ${EXPORT_USAGE.split("\n")[0]}`);
  if (v["keep-local"] === true) throw new TruecastError("USAGE", "--keep-local keeps the exported folder at <out>; give <out>");
  const staging = await PushStaging.create(io);
  try {
    return await exportTo(source, staging.out, v, io);
  } catch (e) {
    throw staging.explain(e);
  } finally {
    await staging.remove();
  }
}

type ExportValues = ReturnType<typeof parseCommand<typeof EXPORT_OPTIONS>>["values"];

/** The export into `out` (or into a temporary folder standing for an `<out>` that was not given; none for a dry run). */
async function exportTo(source: string, out: string | undefined, v: ExportValues, io: CliIo): Promise<number> {
  for (const [what, given] of [["--adapter", v.adapter], ["--base", v.base]] as const) {
    if (given !== undefined && isHubSpec(given)) {
      throw new TruecastError("USAGE", `export cannot read ${what} ${given} from the Hub in place yet; download it (hf download ${given.slice(5).split("@")[0]}) and give the local folder${what === "--base" ? ", or give its Hub id without hf:// (found in the cache or downloaded)" : ""}`);
    }
  }
  const policy = parseDtypePolicy(v.dtype);
  const maxShardSize = v["max-shard-size"] !== undefined ? parseSize(v["max-shard-size"], "--max-shard-size") : undefined;
  const progress = new Progress(io, v.quiet === true);

  // Every local path and option first, then the token and the repo (nothing is created yet): all before any work.
  const { base } = await preflightExport(
    { source, out, force: v.force === true, ...(v.adapter !== undefined ? { adapter: v.adapter } : {}), ...(v.base !== undefined ? { base: v.base } : {}), ...(v["model-card"] !== undefined ? { modelCard: v["model-card"] } : {}) },
    io.cwd,
  );
  const baseDir = base && "dir" in base ? base.dir : undefined;
  const openParams = {
    source: sourceArg(io.cwd, source),
    policy,
    ...(v.adapter !== undefined ? { adapter: resolve(io.cwd, v.adapter) } : {}),
    ...(base ? { base } : {}),
    env: io.env,
    ...(io.fetch ? { fetch: io.fetch } : {}),
    // Ctrl-C stops a read of an hf:// source in the middle of a range, not only between tensors.
    ...(io.signal ? { signal: io.signal } : {}),
  };
  const protect = [
    ...(baseDir !== undefined ? [{ path: baseDir, what: "base model folder" }] : []),
    ...(v.adapter !== undefined ? [{ path: resolve(io.cwd, v.adapter), what: "adapter" }] : []),
    ...(v["model-card"] !== undefined ? [{ path: resolve(io.cwd, v["model-card"]), what: "model card" }] : []),
  ];
  if (v["dry-run"] === true) {
    return exportDryRun({ io, values: v, openParams, protect, ...(out !== undefined ? { out: resolve(io.cwd, out) } : {}), ...(baseDir !== undefined ? { baseDir } : {}), ...(v["model-card"] !== undefined ? { cardFile: resolve(io.cwd, v["model-card"]) } : {}), ...(maxShardSize !== undefined ? { maxShardSize } : {}) });
  }
  if (out === undefined) throw new TruecastError("INTERNAL", "no output folder");
  const session = v.push !== undefined ? await createUploadSession({ repoId: v.push, ...(await hubSettings(v, io)), onProgress: showPublishProgress(progress), prestartHasher: false }) : null;
  let auditedBefore: (value: AuditSummary) => void = () => undefined;
  const before = new Promise<AuditSummary>((r) => (auditedBefore = r));
  const publisher = session
    ? withCommitExtras(
        (beforeCommit) =>
          createExportPublisher({
            session, keepLocal: v["keep-local"] === true, env: io.env, warn: (line) => io.stderr.write(`truecast: warning: ${line}\n`),
            ...(v["commit-message"] !== undefined ? { commitMessage: v["commit-message"] } : {}),
            beforeCommit,
          }),
        { session, replaceWeights: v["replace-weights"] === true, before },
      )
    : undefined;

  let opened: Awaited<ReturnType<typeof openForExport>>;
  let report: ExportReport;
  let phase = "";
  try {
    opened = await openForExport(openParams);
    // The source as found, for the commit's description: audited once it opened (every pickle read and allowed), at
    // the commit the export pinned.
    if (publisher) auditSource(source, io, opened.model.commit).then(auditedBefore, () => undefined);
    report = await exportModel({
      source: sourceArg(io.cwd, source),
      model: opened.model,
      ...(opened.lora ? { lora: opened.lora } : {}),
      ...(v.adapter !== undefined ? { adapter: resolve(io.cwd, v.adapter) } : {}),
      ...(baseDir !== undefined ? { baseDir } : {}),
      out: resolve(io.cwd, out),
      env: io.env,
      dtype: policy,
      ...(maxShardSize !== undefined ? { maxShardSize } : {}),
      allowOverflow: v["allow-overflow"] === true,
      force: v.force === true,
      modelCard: {
        ...(v["model-card"] !== undefined ? { file: resolve(io.cwd, v["model-card"]) } : {}),
        ...(v.license !== undefined ? { license: v.license } : {}),
        ...(v.push !== undefined ? { repoId: v.push } : {}),
        ...(opened.mergedAdapter ? { mergedAdapter: opened.mergedAdapter } : {}),
        ...(opened.frozenFromBase ? { frozenFromBase: opened.frozenFromBase } : {}),
      },
      protect,
      ...(publisher ? { publisher } : {}),
      ...(io.signal ? { signal: io.signal } : {}),
      onEvent: (e) => {
        if (e.type === "write") {
          if (phase !== "write") {
            progress.begin("writing");
            phase = "write";
          }
          progress.update(e.bytes, e.total, e.file);
        } else if (e.type === "hash-sources") {
          // Only when the weights are written and the source files' SHA-256 (for the card) is not done yet.
          if (phase !== "hash-sources") {
            progress.begin("hashing source files");
            phase = "hash-sources";
          }
          progress.update(e.bytes, e.total, "SHA-256 for the model card");
        } else if (e.type === "done") {
          progress.end();
        }
      },
    });
  } catch (e) {
    progress.end();
    // A repo this run created is deleted again (a failed run leaves no empty repo), unless a re-run resumes from it.
    throw publisher ? await publisher.abandon(e, { interrupted: io.signal?.aborted === true }) : e;
  }
  progress.end();
  const published = publisher?.result() ?? null;
  if (v.json === true) {
    await writeReportJson({ ...report, ...(opened.lora ? { lora: opened.lora } : {}), ...(published ? { published } : {}) }, (t) => io.stdout.write(t));
  } else if (v.quiet !== true) {
    if (opened.lora) io.stdout.write(formatLora(opened.lora));
    io.stdout.write(formatExport(report));
    if (published) io.stdout.write(formatPublished(published));
  }
  return 0;
}
