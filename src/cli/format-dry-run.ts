/**
 * `--dry-run` for a person: what would be written and sent, exact byte counts first (a plan is for checking), then
 * what a dry run cannot know. Every line goes through terminal-text.ts: names come from whoever made the model.
 */
import { configName, type DType } from "../dtype/table.js";
import type { DryRunConversion } from "../export/dry-run.js";
import { formatBytes } from "../export/units.js";
import type { PlannedRequests, PlannedUpload, PushTarget } from "../hub/push-plan.js";
import { formatAudit } from "./audit-format.js";
import type { ExportDryRunReport, PublishDryRunReport } from "./dry-run-json.js";
import { terminalLines } from "./terminal-text.js";

/** Modules of a merge listed by name (--json lists every one). */
const MODULES_SHOWN = 8;

function dtypeName(d: DType): string {
  return configName(d) ?? d;
}

function bytes(n: number | null): string {
  return n === null ? "size known once written" : `${n} bytes`;
}

function conversionLine(c: DryRunConversion): string {
  const head = `  ${dtypeName(c.from)} → ${dtypeName(c.to)}: ${c.tensors} tensor${c.tensors === 1 ? "" : "s"}, ${c.bytesIn} → ${c.bytesOut} bytes`;
  if (c.overflow === "impossible") return `${head}; cannot overflow (every ${dtypeName(c.from)} value is finite in ${dtypeName(c.to)})`;
  if (c.overflow === "allowed") return `${head}; values beyond ${dtypeName(c.to)}'s range would become ±inf, allowed by --allow-overflow and counted in the report`;
  return `${head}; values beyond ${dtypeName(c.to)}'s range would make the real run fail (OVERFLOW) unless --allow-overflow: not known until the values are read (\`truecast audit --values\` reads them)`;
}

function pushLines(target: PushTarget, uploads: readonly PlannedUpload[], requests: PlannedRequests, summary: string): string[] {
  const where = target.createPr ? `a pull request against ${target.revision}` : `branch ${target.revision}${target.createsBranch ? " (created from main)" : ""}`;
  const lfs = uploads.filter((u) => u.mode === "lfs");
  const writes = [
    ...(requests.createRepo ? ["1 repo creation"] : []),
    ...(requests.createBranch ? ["1 branch creation"] : []),
    `${requests.preupload} preupload`,
    `${requests.lfsBatch} LFS batch`,
    `at most ${requests.lfsUploadsAtMost} LFS upload${requests.lfsUploadsAtMost === 1 ? "" : "s"} (${requests.lfsBytesAtMost} bytes; objects the Hub already stores are not sent)`,
    `${requests.commits} commit`,
  ];
  return [
    `push: ${target.endpoint}/${target.repoId}, ${where}; repo ${target.createsRepo ? `does not exist: it would be created ${target.private ? "private" : "public"}` : `exists (${target.private ? "private" : "public"})`}`,
    `  token of ${target.user}; checked with ${target.requestsMade} read-only request${target.requestsMade === 1 ? "" : "s"} (GET)`,
    `  commit: "${summary}"`,
    `  files: ${lfs.length} to LFS, ${uploads.length - lfs.length} inside the commit (predicted; the Hub's preupload answer decides, not asked in a dry run)`,
    ...uploads.map((u) => `    ${u.path}: ${u.mode === "lfs" ? "LFS" : "in commit"} (${u.because})`),
    `  write calls: ${writes.join(", ")}`,
  ];
}

/** The human report of `export --dry-run`. */
export function formatExportDryRun(r: ExportDryRunReport): string {
  const p = r.plan;
  const lines = ["dry run: nothing was written, uploaded or committed"];
  const outState = p.outState === "non-empty-dir" ? " (exists: replaced, --force)" : p.outState === "empty-dir" ? " (an empty folder)" : p.outState === "missing" ? " (created)" : "";
  lines.push(`export ${p.source.kind} ${p.source.path} → ${p.out === null ? "(no output folder given)" : p.out + outState}`);
  if (p.push && !p.push.keepLocal) lines.push("  with --push and no --keep-local each shard is deleted once uploaded: the folder is not kept");
  lines.push(`files (${p.files.length}; ${p.knownBytes} bytes${p.unknownSize.length > 0 ? ` + ${p.unknownSize.join(" and ")}, sized once written` : ""}):`);
  for (const f of p.files) {
    const tensors = f.tensors !== undefined ? `, ${f.tensors} tensor${f.tensors === 1 ? "" : "s"} (${f.tensorBytes} bytes of data)` : "";
    const from = f.origin === "generated" ? "generated" : `from ${f.origin}`;
    const keys = f.dtypeKeys ? `; dtype keys ${JSON.stringify(f.dtypeKeys.before)} → ${f.dtypeKeys.after ?? "left as they are"}` : "";
    lines.push(`  ${f.name}: ${bytes(f.bytes)}${tensors}, ${from}${keys}`);
  }
  lines.push(`tensors: ${p.tensorCount}, ${p.tensorBytes} bytes (${formatBytes(p.tensorBytes)}); free space required: ${formatBytes(p.bytesNeeded)} + 16 MB head-room`);
  lines.push(p.conversions.length === 0 ? "conversions: none (every tensor is copied byte for byte)" : "conversions:");
  for (const c of p.conversions) lines.push(conversionLine(c));
  if (p.lora) {
    lines.push(`merge: adapter ${p.lora.adapter}: ${p.lora.modules.length} module${p.lora.modules.length === 1 ? "" : "s"}, ${p.lora.routes} adapter tensors routed (in float32, rounded once)`);
    for (const m of p.lora.modules.slice(0, MODULES_SHOWN)) lines.push(`  ${m.module} → ${m.baseTensor}: ${m.variant} r=${m.rank} alpha=${m.alpha} scaling=${m.scaling}`);
    if (p.lora.modules.length > MODULES_SHOWN) lines.push(`  … ${p.lora.modules.length - MODULES_SHOWN} more modules (--json lists every one)`);
  }
  for (const n of p.notes) lines.push(`note: ${n}`);
  if (p.push) lines.push(...pushLines(p.push.target, p.push.uploads, p.push.requests, p.push.commitSummary));
  const audit = r.audit;
  if ("error" in audit) return terminalLines([...lines, `audit of the source: could not run: ${audit.error}`]);
  return terminalLines([...lines, "audit of the source (headers only):"]) + formatAudit(audit);
}

/** The human report of `publish --dry-run`. */
export function formatPublishDryRun(r: PublishDryRunReport): string {
  const p = r.plan;
  const lines = [
    "dry run: nothing was uploaded or committed",
    `publish ${p.folder}: ${p.files.length} file${p.files.length === 1 ? "" : "s"}, ${p.totalBytes} bytes (${formatBytes(p.totalBytes)})${p.dtype ? `, dtype ${p.dtype}` : ""}`,
    ...p.problems.map((x) => `  problem (published with --force): ${x}`),
    ...pushLines(p.target, p.files, p.requests, p.commitSummary),
  ];
  return terminalLines(lines);
}
