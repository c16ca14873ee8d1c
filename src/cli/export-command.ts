import { resolve } from "node:path";
import { TruecastError } from "../errors.js";
import { dtypePolicy, exportModel, type ExportReport } from "../export/export.js";
import { writeReportJson } from "../export/report-json.js";
import { openForExport } from "../export/open-for-export.js";
import type { DtypePolicy } from "../export/plan.js";
import { parseSize } from "../export/units.js";
import { createExportPublisher } from "../hub/export-push.js";
import { preflightExport } from "../export/preflight.js";
import { abandonAfter, createUploadSession } from "../hub/upload-session.js";
import { COMMON_OPTIONS, parseCommand } from "./args.js";
import { formatExport, formatLora } from "./format.js";
import { formatPublished, HUB_OPTION_RULES, HUB_OPTIONS, HUB_USAGE, hubSettings, showPublishProgress } from "./hub-options.js";
import { sourceArg, type CliIo } from "./io.js";
import { isHubSpec } from "../store/hub-spec.js";
import { Progress } from "./progress.js";

export const EXPORT_USAGE = `truecast export <source> <out> [options]

Export a checkpoint as a Hugging Face safetensors folder, bit for bit unless a conversion is asked for.
<source> is a .safetensors file, a PyTorch .bin/.pt/.pth state dict, a Hugging Face model folder
(safetensors or PyTorch weights, single or sharded), a folder holding one such checkpoint file, or an H2O
LLM Studio experiment folder. config.json, tokenizer and generation_config.json files beside a checkpoint
file travel with it. Every path and option, and the Hub token and repo with --push, are checked before any
work; a Hub repo is created only right before the first upload, and deleted again if the run fails before its commit.
The export is written to a hidden folder beside <out> (.<out>.truecast-<pid>-<host tag><hex>) and moved into place
at the end; Ctrl-C, SIGTERM and SIGHUP remove it, and the next export into the same parent folder removes
those left by runs that were killed. Files linked from outside the source folder are never carried.

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
                           written and deleting it locally (so the model need not fit on disk)
  --keep-local             with --push, keep the exported folder at <out>
${HUB_USAGE}
  --json                   print the whole report as JSON on stdout
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
} as const;

/** Options that only mean something together, or that contradict each other. */
const EXPORT_RULES = [
  ...HUB_OPTION_RULES,
  { option: "keep-local", with: "push", because: "without --push the folder is always kept" },
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
  const args = parseCommand({ command: "export", argv, options: EXPORT_OPTIONS, positionals: ["source", "out"], usage: EXPORT_USAGE, rules: EXPORT_RULES });
  if (args.help) {
    io.stdout.write(EXPORT_USAGE + "\n");
    return 0;
  }
  const [source, out] = args.positionals as [string, string];
  const v = args.values;
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
  const session = v.push !== undefined ? await createUploadSession({ repoId: v.push, ...(await hubSettings(v, io)), onProgress: showPublishProgress(progress) }) : null;
  const publisher = session
    ? createExportPublisher({ session, keepLocal: v["keep-local"] === true, ...(v["commit-message"] !== undefined ? { commitMessage: v["commit-message"] } : {}) })
    : undefined;

  let opened: Awaited<ReturnType<typeof openForExport>>;
  let report: ExportReport;
  let phase = "";
  try {
    opened = await openForExport({
      source: sourceArg(io.cwd, source),
      policy,
      ...(v.adapter !== undefined ? { adapter: resolve(io.cwd, v.adapter) } : {}),
      ...(base ? { base } : {}),
      env: io.env,
      ...(io.fetch ? { fetch: io.fetch } : {}),
    });
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
      protect: [
        ...(baseDir !== undefined ? [{ path: baseDir, what: "base model folder" }] : []),
        ...(v.adapter !== undefined ? [{ path: resolve(io.cwd, v.adapter), what: "adapter" }] : []),
        ...(v["model-card"] !== undefined ? [{ path: resolve(io.cwd, v["model-card"]), what: "model card" }] : []),
      ],
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
    // A repo this run created is deleted again: a failed run leaves no empty repo.
    throw await abandonAfter(session, e);
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
