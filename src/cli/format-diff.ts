/** `truecast diff`'s human report: the two sides, what does not pair up, the changed tensors, the verdict. */
import { dtypeLabel } from "../dtype/table.js";
import type { TensorDiff } from "../diff/compare-tensors.js";
import type { DiffReport, DiffSide } from "../diff/diff.js";
import { tensorStatus } from "../diff/page.js";
import { count, num } from "../diff/verdict.js";
import { formatBytes } from "../export/units.js";
import { terminalLines } from "./terminal-text.js";

/** Tensors listed per section unless `--all`. */
const SHOWN = 20;

function sideLine(label: string, s: DiffSide): string {
  return `${label}: ${s.path} (${s.kind}, ${count(s.tensors)} tensors, ${formatBytes(s.bytes)})`;
}

function prefixes(label: string, s: DiffSide): string[] {
  return Object.entries(s.prefixesRemoved).map(([p, n]) => `names: prefix "${p}" removed from ${count(n)} ${n === 1 ? "name" : "names"} of ${label} to pair them`);
}

function some<T>(items: readonly T[], all: boolean): { shown: readonly T[]; more: number } {
  const shown = all ? items : items.slice(0, SHOWN);
  return { shown, more: items.length - shown.length };
}

/** One changed tensor in a line: what changed and by how much. */
export function changedLine(t: TensorDiff): string {
  const dtype = t.dtypeA === t.dtypeB ? dtypeLabel(t.dtypeA) : `${dtypeLabel(t.dtypeA)} → ${dtypeLabel(t.dtypeB)}`;
  const head = `  ${t.name}${t.nameInB !== undefined ? ` (b: ${t.nameInB})` : ""}  ${dtype}[${t.shape.join(", ")}]  ${tensorStatus(t).status}`;
  const v = t.values;
  if (v === null) return t.elementsChanged === null ? head : `${head}: ${count(t.elementsChanged)}/${count(t.elements)} elements changed`;
  const parts = [`${count(v.changed)}/${count(v.elements)} changed`];
  if (v.toInfinity > 0) parts.push(`${count(v.toInfinity)} → inf`);
  if (v.toZero > 0) parts.push(`${count(v.toZero)} → 0`);
  if (v.nanAppeared > 0) parts.push(`${count(v.nanAppeared)} became NaN`);
  if (v.nanVanished > 0) parts.push(`${count(v.nanVanished)} NaN gone`);
  if (v.infChanged > 0) parts.push(`${count(v.infChanged)} inf changed`);
  if (v.clamped > 0) parts.push(`${count(v.clamped)} clamped`);
  parts.push(`max abs ${num(v.maxAbsError)}`, `max rel ${num(v.maxRelError)}`, `max ${num(v.maxUlp)} ulp (${dtypeLabel(v.ulpDtype)})`);
  if (v.cast !== null && v.cast.notNearestEven > 0) parts.push(`${count(v.cast.notNearestEven)} not round-to-nearest-even`);
  return `${head}: ${parts.join(" · ")}`;
}

/**
 * The human report of a diff, escaped for the terminal. `all` lists every tensor of each section; `extra` lines
 * (the report page written) go just before the closing counts and verdict.
 */
export function formatDiff(r: DiffReport, all: boolean, extra: readonly string[] = []): string {
  const lines = [sideLine("a", r.a), sideLine("b", r.b), ...prefixes("a", r.a), ...prefixes("b", r.b)];
  const more = (n: number) => (n > 0 ? [`  … ${count(n)} more (--all lists every one)`] : []);
  for (const [label, names] of [["only in a", r.onlyInA], ["only in b", r.onlyInB]] as const) {
    if (names.length === 0) continue;
    const s = some(names, all);
    lines.push(`${label}: ${count(names.length)} tensors`, ...s.shown.map((n) => `  ${n}`), ...more(s.more));
  }
  if (r.shapeMismatches.length > 0) {
    const s = some(r.shapeMismatches, all);
    lines.push(`shape mismatches: ${count(r.shapeMismatches.length)}`);
    for (const m of s.shown) lines.push(`  ${m.name}  a ${dtypeLabel(m.dtypeA)}[${m.shapeA.join(", ")}]  b ${dtypeLabel(m.dtypeB)}[${m.shapeB.join(", ")}]`);
    lines.push(...more(s.more));
  }
  // A dtype change that kept every value is said once, not per tensor.
  const kept = r.tensors.filter((t) => !t.bitIdentical && t.values !== null && t.values.changed === 0);
  const changed = r.tensors.filter((t) => !t.bitIdentical && !kept.includes(t));
  if (changed.length > 0) {
    const s = some(changed, all);
    lines.push(`changed: ${count(changed.length)} tensors`, ...s.shown.map(changedLine), ...more(s.more));
  }
  if (kept.length > 0) {
    const pairs = [...new Set(kept.map((t) => `${dtypeLabel(t.dtypeA)} → ${dtypeLabel(t.dtypeB)}`))].join(", ");
    lines.push(`dtype changed, every value kept: ${count(kept.length)} tensors (${pairs})`);
  }
  lines.push(...extra);
  const c = r.counts;
  const dtype = c.dtypeChanged > 0 ? ` (${count(c.dtypeChanged)} with a dtype change)` : "";
  lines.push(`compared ${count(c.compared)} tensors (${formatBytes(r.bytesRead)} read in ${r.seconds.toFixed(1)}s): ${count(c.bitIdentical)} bit-identical, ${count(c.changed)} changed${dtype}`);
  lines.push(`verdict: ${r.verdict.text}`);
  return terminalLines(lines);
}
