/**
 * A diff as a {@link ReportPage}: the verdict on top, the counts as facts, what is missing or misshapen as findings,
 * and one row per tensor (compared, only on one side, or misshapen). Pure: the same report gives the same page.
 */
import { dtypeLabel, type DType } from "../dtype/table.js";
import { groupOf, layerOf, type Finding, type ReportPage, type TensorRow } from "../report/page-data.js";
import { formatBytes } from "../export/units.js";
import type { TensorDiff } from "./compare-tensors.js";
import type { DiffReport } from "./diff.js";
import { count } from "./verdict.js";

const METRICS = ["elementsChanged", "toInfinity", "toZero", "nanAppeared", "nanVanished", "maxAbsError", "maxRelError", "maxUlp", "notNearestEven"] as const;

function emptyMetrics(): Record<string, number | null> {
  return Object.fromEntries(METRICS.map((m) => [m, null]));
}

function dtypeText(a: DType, b: DType): string {
  return a === b ? dtypeLabel(a) : `${dtypeLabel(a)} → ${dtypeLabel(b)}`;
}

/** The short word for a compared tensor, and its severity. */
export function tensorStatus(t: TensorDiff): { status: string; severity: TensorRow["severity"] } {
  if (t.bitIdentical) return { status: "bit-identical", severity: "ok" };
  if (t.compared === "none") return { status: "dtype changed, not compared", severity: "warning" };
  const v = t.values;
  if (v !== null) {
    if (v.toInfinity > 0) return { status: "overflow", severity: "error" };
    if (v.nanAppeared > 0) return { status: "NaN", severity: "error" };
    if (v.cast !== null) {
      if (v.changed === 0) return { status: "exact", severity: "ok" };
      if (v.cast.notNearestEven === 0) return { status: "rounded", severity: "info" };
      return { status: "values changed", severity: "warning" };
    }
    if (v.changed === 0) return { status: "same values", severity: "info" };
  }
  return { status: "changed", severity: "warning" };
}

function row(t: TensorDiff): TensorRow {
  const v = t.values;
  const metrics = emptyMetrics();
  metrics["elementsChanged"] = v !== null ? v.changed : t.elementsChanged;
  if (v !== null) {
    metrics["toInfinity"] = v.toInfinity;
    metrics["toZero"] = v.toZero;
    metrics["nanAppeared"] = v.nanAppeared;
    metrics["nanVanished"] = v.nanVanished;
    metrics["maxAbsError"] = v.maxAbsError;
    metrics["maxRelError"] = v.maxRelError;
    metrics["maxUlp"] = v.maxUlp;
    metrics["notNearestEven"] = v.cast?.notNearestEven ?? null;
  } else if (t.bitIdentical) {
    for (const m of ["toInfinity", "toZero", "nanAppeared", "nanVanished", "maxAbsError", "maxRelError", "maxUlp"]) metrics[m] = 0;
  }
  return { name: t.name, layer: layerOf(t.name), group: groupOf(t.name), dtype: dtypeText(t.dtypeA, t.dtypeB), shape: t.shape, ...tensorStatus(t), metrics };
}

/** Findings about values: overflows and NaNs that appeared (damage), casts that are not roundings. */
function valueFindings(tensors: readonly TensorDiff[]): Finding[] {
  const out: Finding[] = [];
  const add = (pick: (t: TensorDiff) => number, make: (n: number, names: string[]) => Finding) => {
    const hit = tensors.filter((t) => pick(t) > 0);
    if (hit.length > 0) out.push(make(hit.reduce((n, t) => n + pick(t), 0), hit.map((t) => t.name)));
  };
  add((t) => t.values?.toInfinity ?? 0, (n, names) => ({
    severity: "error",
    code: "OVERFLOW_TO_INF",
    message: `${count(n)} finite values of a are ±inf in b, in ${count(names.length)} tensors`,
    action: "b is damaged: export it again from a keeping a's dtype (truecast export keeps it by default)",
    tensors: names,
  }));
  add((t) => t.values?.nanAppeared ?? 0, (n, names) => ({
    severity: "error",
    code: "NAN_APPEARED",
    message: `${count(n)} values are NaN in b but not in a, in ${count(names.length)} tensors`,
    action: "b is damaged: find the step that produced NaNs and export again from a",
    tensors: names,
  }));
  add((t) => t.values?.cast?.notNearestEven ?? 0, (n, names) => ({
    severity: "warning",
    code: "NOT_NEAREST_EVEN",
    message: `${count(n)} values of ${count(names.length)} tensors whose dtype changed are not the round-to-nearest-even cast of the wider side (clamped, rounded another way, or edited)`,
    tensors: names,
  }));
  return out;
}

/** The report page of a diff (`truecast diff --html`). `date` is when the report was made (ISO 8601). */
export function diffPage(report: DiffReport, params: { generator: string; date: string }): ReportPage {
  const findings: Finding[] = [];
  if (report.onlyInA.length > 0) {
    findings.push({ severity: "warning", code: "ONLY_IN_A", message: `${count(report.onlyInA.length)} tensors are in a but not in b`, tensors: report.onlyInA });
  }
  if (report.onlyInB.length > 0) {
    findings.push({ severity: "warning", code: "ONLY_IN_B", message: `${count(report.onlyInB.length)} tensors are in b but not in a`, tensors: report.onlyInB });
  }
  if (report.shapeMismatches.length > 0) {
    findings.push({ severity: "error", code: "SHAPE_MISMATCH", message: `${count(report.shapeMismatches.length)} tensors have different shapes in a and b`, tensors: report.shapeMismatches.map((m) => m.name) });
  }
  findings.push(...valueFindings(report.tensors));
  const rows: TensorRow[] = report.tensors.map(row);
  for (const name of report.onlyInA) rows.push({ name, layer: layerOf(name), group: groupOf(name), dtype: "", shape: [], status: "only in a", severity: "warning", metrics: emptyMetrics() });
  for (const name of report.onlyInB) rows.push({ name, layer: layerOf(name), group: groupOf(name), dtype: "", shape: [], status: "only in b", severity: "warning", metrics: emptyMetrics() });
  for (const m of report.shapeMismatches) {
    rows.push({ name: m.name, layer: layerOf(m.name), group: groupOf(m.name), dtype: dtypeText(m.dtypeA, m.dtypeB), shape: m.shapeA, status: `shape [${m.shapeA.join(", ")}] → [${m.shapeB.join(", ")}]`, severity: "error", metrics: emptyMetrics() });
  }
  const c = report.counts;
  return {
    kind: "diff",
    title: `truecast diff ${report.a.path} ${report.b.path}`,
    verdict: { severity: report.verdict.severity, text: report.verdict.text },
    facts: [
      { label: "a", value: `${report.a.path} (${report.a.kind}, ${count(report.a.tensors)} tensors, ${formatBytes(report.a.bytes)})` },
      { label: "b", value: `${report.b.path} (${report.b.kind}, ${count(report.b.tensors)} tensors, ${formatBytes(report.b.bytes)})` },
      { label: "compared", value: count(c.compared) },
      { label: "bit-identical", value: count(c.bitIdentical) },
      { label: "changed", value: count(c.changed) },
      { label: "dtype changed", value: count(c.dtypeChanged) },
      { label: "only in a", value: count(c.onlyInA) },
      { label: "only in b", value: count(c.onlyInB) },
      { label: "shape mismatches", value: count(c.shapeMismatches) },
    ],
    findings,
    tensors: rows,
    generator: params.generator,
    date: params.date,
  };
}
