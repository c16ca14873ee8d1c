/**
 * `audit`: whether a model (a local folder or a Hub repo, through a {@link ModelStore}) is intact. Headers,
 * config.json, indexes, pickles and the model card first; values only when asked (`values: true`), each
 * floating tensor streamed once. Every finding has a severity and a stable code; the model passes when no
 * finding is an error.
 */
import type { Finding, Severity } from "../report/page-data.js";
import type { ModelStore } from "../store/store.js";
import { cardFindings } from "./card-findings.js";
import { configFindings } from "./config-findings.js";
import { loadedFormat, plural } from "./finding.js";
import { layoutFindings, type DigestOf } from "./layout-findings.js";
import { pickleFindings } from "./pickle-findings.js";
import { readAuditModel, type AuditTensor, type WeightFormat } from "./read-model.js";
import { scanValues, type ValueStats } from "./value-scan.js";
import { valueFindings } from "./value-findings.js";

export interface AuditParams {
  readonly store: ModelStore;
  /** Stream every floating tensor once and check its values (default: headers only). */
  readonly values?: boolean;
  /** Told after each tensor of the value scan (bytes of that tensor), for progress. */
  readonly onTensor?: (name: string, bytes: number) => void;
  readonly signal?: AbortSignal;
  /** Bytes per read of the value scan (tests use small ones). */
  readonly chunkBytes?: number;
}

export interface AuditTensorRow {
  readonly name: string;
  readonly file: string;
  readonly format: WeightFormat;
  /** Safetensors spelling (`BF16`); JSON output writes torch's (`bfloat16`). */
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly bytes: number;
  /** Whether a loader uses this copy (the format it prefers, first copy of a name). */
  readonly loaded: boolean;
  /** With `values`, for floating tensors. */
  readonly values?: ValueStats;
}

export interface AuditResult {
  /** `./my-model` or `hf://org/name@rev`. */
  readonly source: string;
  readonly remote: boolean;
  readonly valuesScanned: boolean;
  /** True when no finding is an error: the CI gate. */
  readonly ok: boolean;
  readonly verdict: { readonly severity: Severity | "ok"; readonly text: string };
  readonly counts: Readonly<Record<Severity, number>>;
  /** Errors first, then warnings, then notes. */
  readonly findings: readonly Finding[];
  readonly files: readonly { readonly path: string; readonly format: WeightFormat; readonly size: number; readonly tensors: number }[];
  readonly loadedFormat: WeightFormat | null;
  readonly tensors: readonly AuditTensorRow[];
  /** What reading cost: for a remote store, HTTP requests and bytes. */
  readonly requests: number;
  readonly bytesRead: number;
}

const RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

function verdictOf(findings: readonly Finding[], counts: Record<Severity, number>, values: boolean): AuditResult["verdict"] {
  const scope = values ? "headers and values" : "headers only; --values also checks every value";
  if (counts.error > 0) {
    const codes = [...new Set(findings.filter((f) => f.severity === "error").map((f) => f.code))];
    return { severity: "error", text: `damaged: ${plural(counts.error, "error")} (${codes.join(", ")})${counts.warning > 0 ? `, ${plural(counts.warning, "warning")}` : ""}` };
  }
  if (counts.warning > 0) return { severity: "warning", text: `no errors, ${plural(counts.warning, "warning")} (${scope})` };
  return { severity: "ok", text: `intact: no errors, no warnings (${scope})` };
}

/** Audit the model in `store`. Throws only for what stops reading altogether (the store itself failing). */
export async function auditModel(params: AuditParams): Promise<AuditResult> {
  const { store } = params;
  const model = await readAuditModel(store);
  const format = loadedFormat(model);
  let stats = new Map<AuditTensor, ValueStats>();
  if (params.values === true) {
    stats = await scanValues({
      store,
      tensors: model.files.flatMap((f) => f.tensors),
      ...(params.chunkBytes !== undefined ? { chunkBytes: params.chunkBytes } : {}),
      ...(params.onTensor ? { onTensor: (t: AuditTensor, n: number) => params.onTensor?.(t.name, n) } : {}),
      ...(params.signal ? { signal: params.signal } : {}),
    });
  }
  const digestOf: DigestOf = (t) => stats.get(t)?.digest;
  const findings = [
    ...layoutFindings(model, digestOf),
    ...configFindings(model, digestOf),
    ...pickleFindings(model),
    ...valueFindings(stats),
    ...cardFindings(model),
  ].sort((a, b) => RANK[a.severity] - RANK[b.severity]);
  const counts: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const f of findings) counts[f.severity]++;
  const seen = new Set<string>();
  const tensors: AuditTensorRow[] = [];
  for (const f of model.files) {
    for (const t of f.tensors) {
      const loaded = f.format === format && !seen.has(t.name);
      if (loaded) seen.add(t.name);
      const v = stats.get(t);
      tensors.push({ name: t.name, file: t.file, format: t.format, dtype: t.dtype, shape: t.shape, bytes: t.byteLength, loaded, ...(v ? { values: v } : {}) });
    }
  }
  const cost = store.stats();
  return {
    source: store.label,
    remote: store.remote,
    valuesScanned: params.values === true,
    ok: counts.error === 0,
    verdict: verdictOf(findings, counts, params.values === true),
    counts,
    findings,
    files: model.files.map((f) => ({ path: f.path, format: f.format, size: f.size, tensors: f.tensors.length })),
    loadedFormat: format,
    tensors,
    requests: cost.requests,
    bytesRead: cost.bytesRead,
  };
}
