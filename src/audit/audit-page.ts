/**
 * The report page of an audit (`audit --html`), as plain data: the verdict, key facts, the findings, and one row
 * per tensor a loader uses, with the value counts when they were scanned. Pure: the same result and date give
 * the same page.
 */
import { dtypeLabel, isDType } from "../dtype/table.js";
import { formatBytes } from "../export/units.js";
import { groupOf, layerOf, type Finding, type ReportPage, type Severity, type TensorRow } from "../report/page-data.js";
import type { AuditResult, AuditTensorRow } from "./audit.js";
import { plural } from "./finding.js";

/** The word a tensor's row shows for the worst finding that names it. */
const STATUS: Readonly<Record<string, string>> = {
  NAN: "NaN",
  INF: "inf",
  F16_OVERFLOW_SIGNATURE: "overflow",
  F16_CLAMP_SIGNATURE: "clamped",
  WOULD_OVERFLOW_F16: "f16-unsafe",
  ALL_ZERO: "all zero",
  SUBNORMAL_SHARE: "subnormal",
  TENSOR_STORED_TWICE: "stored twice",
  FORMATS_DISAGREE: "formats differ",
  TIED_HEAD_STORED: "tied, stored",
  TIED_HEAD_DIFFERS: "tied, differs",
  TIED_HEAD_MISSING: "head missing",
  INDEX_SHARD_MISSING: "shard missing",
  INDEX_TENSOR_ELSEWHERE: "index wrong",
  INDEX_TENSOR_NOT_FOUND: "index wrong",
  INDEX_TENSOR_UNLISTED: "not indexed",
  MIXED_FLOAT_DTYPES: "mixed dtype",
};

const RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

function dtypeWord(d: string): string {
  return isDType(d) ? dtypeLabel(d) : d.toLowerCase();
}

function metrics(t: AuditTensorRow, values: boolean): Record<string, number | null> {
  if (!values) return { bytes: t.bytes };
  const v = t.values;
  if (v === undefined) return { bytes: t.bytes, nan: null, inf: null, atF16Max: null, overF16: null, zeroShare: null, subnormalShare: null, absMax: null };
  const share = (n: number) => (v.elements === 0 ? 0 : n / v.elements);
  return {
    bytes: t.bytes,
    nan: v.nan,
    inf: v.posInf + v.negInf,
    atF16Max: v.atF16Max,
    overF16: v.overF16,
    zeroShare: share(v.zero),
    subnormalShare: share(v.subnormal),
    absMax: v.absMax,
  };
}

function row(t: AuditTensorRow, worst: Finding | undefined, values: boolean): TensorRow {
  return {
    name: t.name,
    layer: layerOf(t.name),
    group: groupOf(t.name),
    dtype: dtypeWord(t.dtype),
    shape: t.shape,
    status: worst === undefined ? "ok" : (STATUS[worst.code] ?? worst.code.toLowerCase()),
    severity: worst === undefined || worst.severity === "info" ? "ok" : worst.severity,
    metrics: metrics(t, values),
  };
}

/** The page `audit --html` renders. `generator` is `truecast x.y.z`; `date` an ISO 8601 time. */
export function auditReportPage(result: AuditResult, meta: { generator: string; date: string }): ReportPage {
  const worst = new Map<string, Finding>();
  for (const f of result.findings) {
    for (const name of f.tensors ?? []) {
      const had = worst.get(name);
      if (had === undefined || RANK[f.severity] < RANK[had.severity]) worst.set(name, f);
    }
  }
  const loaded = result.tensors.filter((t) => t.loaded);
  const bytesByDtype = new Map<string, number>();
  for (const t of loaded) bytesByDtype.set(dtypeWord(t.dtype), (bytesByDtype.get(dtypeWord(t.dtype)) ?? 0) + t.bytes);
  const facts = [
    { label: "source", value: result.source },
    { label: "tensors", value: loaded.length.toLocaleString("en-US") },
    { label: "weights", value: `${result.loadedFormat ?? "none"} · ${result.files.length} file${result.files.length === 1 ? "" : "s"}` },
    { label: "dtypes", value: [...bytesByDtype].sort((a, b) => b[1] - a[1]).map(([d, n]) => `${d} ${formatBytes(n)}`).join(", ") || "none" },
    { label: "checked", value: result.valuesScanned ? "headers and every value" : "headers only" },
    { label: "findings", value: `${plural(result.counts.error, "error")}, ${plural(result.counts.warning, "warning")}, ${plural(result.counts.info, "note")}` },
    ...(result.remote ? [{ label: "requests", value: String(result.requests) }] : []),
  ];
  return {
    kind: "audit",
    title: `truecast audit ${result.source}`,
    verdict: result.verdict,
    facts,
    findings: result.findings,
    tensors: loaded.map((t) => row(t, worst.get(t.name), result.valuesScanned)),
    generator: meta.generator,
    date: meta.date,
  };
}
