import { configName, type DType } from "../dtype/table.js";
import type { ConversionSummary, ExportReport } from "../export/export.js";
import type { InspectReport } from "../export/inspect.js";
import type { LoraReport } from "../transforms/lora/index.js";
import { formatBytes } from "../export/units.js";
import { terminalLines } from "./terminal-text.js";

function dtypeName(d: string | null): string {
  if (d === null) return "none";
  return configName(d as DType) ?? d;
}

function byDtype(m: Readonly<Record<string, number>>): string {
  return Object.entries(m)
    .sort((a, b) => b[1] - a[1])
    .map(([d, n]) => `${dtypeName(d)} ${formatBytes(n)}`)
    .join(", ");
}

function num(x: number): string {
  if (x === 0) return "0";
  if (Math.abs(x) >= 1e-3 && Math.abs(x) < 1e6) return String(Number(x.toPrecision(4)));
  return x.toExponential(3);
}

export function formatConversion(c: ConversionSummary): string {
  return (
    `${dtypeName(c.from)} → ${dtypeName(c.to)}: ${c.tensors} tensor${c.tensors === 1 ? "" : "s"}, ${c.elements} values, ` +
    `${c.changed} changed, ${c.toInfinity} became ±inf, ${c.toZero} became 0, ${c.toSubnormal} became subnormal, ` +
    `${c.nan} NaN, max abs error ${num(c.maxAbsError)}, max rel error ${num(c.maxRelError)}`
  );
}

/**
 * The closing line, saying once what is bit-exact and what is not:
 * `bit-exact: 291/291 tensors · dtype bfloat16 · 3 shards · 16.1 GB`,
 * `bit-exact: 7/13 tensors (6 merged) · ...`, or for a conversion of every tensor
 * `converted: 111/111 tensors to float16 · ...`.
 */
export function summaryLine(r: ExportReport): string {
  const converted = r.tensorCount - r.bitExact - r.computed;
  const others = [...(r.computed > 0 ? [`${r.computed} merged`] : []), ...(converted > 0 ? [`${converted} converted`] : [])];
  const head =
    r.bitExact === 0 && converted > 0 && r.computed === 0
      ? `converted: ${converted}/${r.tensorCount} tensors to ${dtypeName(r.dtype)}`
      : `bit-exact: ${r.bitExact}/${r.tensorCount} tensors${others.length > 0 ? ` (${others.join(", ")})` : ""}`;
  const parts = [
    head,
    `dtype ${dtypeName(r.dtype)}${r.mixedDtypes ? ` (mixed: ${byDtype(r.bytesByDtype)})` : ""}`,
    `${r.shards.length} shard${r.shards.length === 1 ? "" : "s"}`,
    formatBytes(r.totalSize),
  ];
  return parts.join(" · ");
}

export function formatExport(r: ExportReport): string {
  const lines: string[] = [];
  lines.push(`exported ${r.source.kind} ${r.source.path} → ${r.out}`);
  lines.push(`  source dtypes: ${byDtype(r.sourceBytesByDtype) || "none"}`);
  lines.push(`  written dtypes: ${byDtype(r.bytesByDtype) || "none"}`);
  for (const s of r.shards) lines.push(`  ${s.file}: ${s.tensors} tensors, ${formatBytes(s.bytes)}`);
  if (r.indexFile) lines.push(`  ${r.indexFile}: total_size ${r.totalSize}`);
  if (r.config) {
    const before = Object.entries(r.config.before).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ") || "no dtype key";
    lines.push(`  config.json: ${before} → torch_dtype=dtype=${JSON.stringify(r.config.after)}`);
  } else {
    lines.push("  config.json: none in the source (none written)");
  }
  for (const c of r.conversions) lines.push(`  converted ${formatConversion(c)}`);
  for (const n of [...r.source.notes, ...r.notes]) lines.push(`  note: ${n}`);
  if (r.files.length > 0) lines.push(`  files: ${r.files.join(", ")}`);
  lines.push(`  verified: ${r.verified.tensors} tensors, ${formatBytes(r.verified.bytes)} re-read and hashed in ${r.seconds.toFixed(1)}s`);
  lines.push(summaryLine(r));
  return terminalLines(lines);
}

export function formatInspect(r: InspectReport, all: boolean): string {
  const lines: string[] = [];
  lines.push(`${r.path}: ${r.kind}`);
  lines.push(`  tensors: ${r.tensorCount} · parameters: ${r.parameters.toLocaleString("en-US")} · ${formatBytes(r.totalSize)}`);
  lines.push(`  dtypes by bytes: ${byDtype(r.bytesByDtype) || "none"}${r.mixedDtypes ? " (mixed floating dtypes)" : ""}`);
  for (const s of r.shards) {
    const meta = s.metadata ? ` · metadata ${JSON.stringify(s.metadata)}` : "";
    lines.push(`  ${s.file}: ${s.tensors} tensors, ${formatBytes(s.bytes)}${meta}`);
  }
  if (!r.config) {
    lines.push("  config.json: none");
  } else if (r.config.claims.length === 0) {
    lines.push(`  config.json: states no dtype (tensors are ${dtypeName(r.dtype)})`);
  } else {
    const claims = r.config.claims.map((c) => `${c.key}=${JSON.stringify(c.value)}`).join(", ");
    lines.push(
      r.config.matches
        ? `  config.json: ${claims} matches the tensors`
        : `  config.json: ${claims} does NOT match the tensors (${dtypeName(r.dtype)}); \`truecast export\` writes the measured dtype`,
    );
  }
  for (const n of r.notes) lines.push(`  note: ${n}`);
  if (r.files.length > 0) lines.push(`  files: ${r.files.join(", ")}`);
  const shown = all ? r.tensors : r.tensors.slice(0, 20);
  for (const t of shown) lines.push(`  ${t.name}  ${t.dtype}[${t.shape.join(", ")}]  ${formatBytes(t.bytes)}  ${t.file}`);
  if (shown.length < r.tensors.length) lines.push(`  … ${r.tensors.length - shown.length} more (--all lists every tensor)`);
  return terminalLines(lines);
}

/** What a LoRA merge did: modules, settings, and how many elements the merge moved. */
export function formatLora(r: LoraReport): string {
  const lines: string[] = [];
  let changed = 0;
  let tooSmall = 0;
  let elements = 0;
  for (const m of r.modules) {
    elements += m.weight.elements;
    changed += m.weight.changed ?? 0;
    tooSmall += m.weight.tooSmall ?? 0;
  }
  const variants = [...new Set(r.modules.map((m) => m.variant))].join("+") || "lora";
  lines.push(`merged ${variants} adapter ${r.adapter}: ${r.modules.length} modules, ${r.routes.length} adapter tensors routed`);
  lines.push(`  elements changed by the merge: ${changed} of ${elements}; too small to move: ${tooSmall}`);
  for (const m of r.modules.slice(0, 8)) {
    lines.push(
      `  ${m.module}: r=${m.rank} alpha=${m.alpha} scaling=${num(m.scaling)} ${m.inputDtype}→${m.outputDtype} changed ${m.weight.changed ?? "?"} too small ${m.weight.tooSmall ?? "?"}`,
    );
  }
  if (r.modules.length > 8) lines.push(`  … ${r.modules.length - 8} more modules (--json lists every one)`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  return terminalLines(lines);
}
