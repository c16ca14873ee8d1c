/**
 * `--dry-run --json`: what a dry run prints on stdout, in the conventions of report-json.ts (schemaVersion 1 first,
 * torch's dtype spelling, "Infinity" for infinite numbers). A dry-run object is told from a report by `dryRun: true`;
 * the fields of a real run's report are not in it. Fields (within schemaVersion 1, new fields may be added):
 *
 * `export --dry-run`:
 * - `command`: "export"; `dryRun`: true.
 * - `plan.source` `{kind, path}`; `plan.out`: the output folder or null; `plan.outState`: "missing", "empty-dir",
 *   "non-empty-dir" (replaced: --force was given) or null.
 * - `plan.files[]`: every file the export writes, in this order: shards, the index, sidecars, config.json and the
 *   other carried files, README.md, truecast-report.json. Each `{name, kind, bytes, origin}`: `kind` one of
 *   shard, index, sidecar, config, carried, model-card, report; `bytes` exact, or null for a file whose size is known
 *   only once written (a generated README.md, truecast-report.json); `origin` the path (or `hf://…/file`) a file is
 *   carried from, or "generated". Shards and sidecars add `tensors` and `tensorBytes`; config.json adds
 *   `dtypeKeys: {before: {torch_dtype?, dtype?}, after}` (`after` null: left as they are).
 * - `plan.tensorCount`, `plan.tensorBytes` (the index's total_size plus sidecars), `plan.knownBytes` (sum of the
 *   files' known sizes), `plan.unknownSize` (names of the files sized only once written), `plan.bytesNeeded` (free
 *   space the real run requires, before its 16 MB head-room).
 * - `plan.conversions[]`: `{from, to, tensors, bytesIn, bytesOut, overflow}`, `overflow` one of "impossible",
 *   "refused-if-any" (values beyond `to`'s range, if the values hold any, make the real run fail with OVERFLOW:
 *   a dry run does not read values), "allowed" (--allow-overflow).
 * - `plan.lora`: null, or `{adapter, routes, modules: [{module, baseTensor, variant, rank, alpha, scaling}]}`.
 * - `plan.notes[]`: what the source did or left out.
 * - `plan.push`: null, or `{target, uploads, requests, commitSummary, keepLocal}`: `target` `{repoId, endpoint,
 *   revision, createPr, user, createsRepo, private, createsBranch, requestsMade}` (`requestsMade`: the GETs the dry
 *   run sent); `uploads[]` `{path, bytes, mode: "lfs"|"regular", because}` (predicted: the Hub decides each file's
 *   mode in its preupload answer, which a dry run does not ask for); `requests` `{createRepo, createBranch,
 *   preupload, lfsBatch, lfsUploadsAtMost, lfsBytesAtMost, inCommit, commits}`: the write calls a real run makes
 *   (objects the Hub already stores are not sent again, so uploads are "at most").
 * - `audit`: the source's audit as `truecast audit --json` gives it (headers only: `valuesScanned` false), or
 *   `{error}` when the audit itself could not read the source.
 *
 * `publish --dry-run`:
 * - `command`: "publish"; `dryRun`: true; `plan.folder`; `plan.files[]` `{path, bytes, mode, because}` as in
 *   `uploads` above; `plan.totalBytes`; `plan.problems[]` (the folder check's; non-empty only with --force);
 *   `plan.dtype` (config.json spelling of the dominant dtype, or null); `plan.target`, `plan.requests`,
 *   `plan.commitSummary` as above.
 */
import type { AuditResult } from "../audit/audit.js";
import type { PlannedRequests, PlannedUpload, PushTarget } from "../hub/push-plan.js";
import type { DryRunPlan } from "../export/dry-run.js";
import { reportJson } from "../export/report-json.js";

export interface PushDryRun {
  readonly target: PushTarget;
  readonly uploads: readonly PlannedUpload[];
  readonly requests: PlannedRequests;
  readonly commitSummary: string;
  readonly keepLocal: boolean;
}

export interface ExportDryRunReport {
  readonly command: "export";
  readonly dryRun: true;
  readonly plan: DryRunPlan & { readonly push: PushDryRun | null };
  readonly audit: AuditResult | { readonly error: string };
}

export interface PublishDryRunReport {
  readonly command: "publish";
  readonly dryRun: true;
  readonly plan: {
    readonly folder: string;
    readonly files: readonly PlannedUpload[];
    readonly totalBytes: number;
    readonly problems: readonly string[];
    readonly dtype: string | null;
    readonly target: PushTarget;
    readonly requests: PlannedRequests;
    readonly commitSummary: string;
  };
}

/** The dry run's JSON text (see the file comment for its fields). */
export function dryRunJson(report: ExportDryRunReport | PublishDryRunReport): string {
  return reportJson(report);
}
