/**
 * The one sentence a diff ends with, chosen from what the per-tensor comparisons found: a bit-exact copy, a clean
 * cast, a damaged cast, a LoRA merge, or plain differences, plus what is missing on either side.
 */
import { dtypeLabel, type DType } from "../dtype/table.js";
import { groupOf, type Severity } from "../report/page-data.js";
import type { TensorDiff } from "./compare-tensors.js";

export type VerdictCode =
  /** Every tensor bit-identical under the same names, none missing. */
  | "IDENTICAL"
  /** Every tensor bit-identical, but names differ by a wrapper prefix. */
  | "IDENTICAL_RENAMED"
  /** The changed tensors are exactly the round-to-nearest-even cast of the other side's, with no overflow. */
  | "CLEAN_CAST"
  /** b holds a's values exactly in a wider dtype. */
  | "EXACT_WIDENING"
  /** A cast that turned finite values into ±inf or NaN. */
  | "CAST_DAMAGED"
  /** A dtype change whose values are not the round-to-nearest-even cast (clamped, rounded otherwise, or edited). */
  | "CAST_CHANGED"
  /** Only attention and MLP projection weights changed, in place: the signature of a merged LoRA adapter. */
  | "LORA_MERGE"
  | "DIFFERENT";

export interface Verdict {
  readonly code: VerdictCode;
  readonly severity: Severity | "ok";
  readonly text: string;
}

export interface ShapeMismatch {
  readonly name: string;
  readonly nameInB?: string;
  readonly dtypeA: DType;
  readonly dtypeB: DType;
  readonly shapeA: readonly number[];
  readonly shapeB: readonly number[];
}

/** The parts of a diff the verdict is made from. */
export interface VerdictInput {
  readonly tensors: readonly TensorDiff[];
  readonly onlyInA: readonly string[];
  readonly onlyInB: readonly string[];
  readonly shapeMismatches: readonly ShapeMismatch[];
  /** Names were matched only after removing a wrapper prefix. */
  readonly renamed: boolean;
}

/** Kinds of weight a LoRA adapter targets. */
const LORA_GROUPS = new Set(["q", "k", "v", "o", "qkv", "mlp"]);

/** `1,203`. */
export function count(n: number): string {
  return n.toLocaleString("en-US");
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}

/** A number for a sentence: 4 significant digits, exponent form when tiny or huge. */
export function num(x: number): string {
  if (x === Infinity) return "inf";
  if (x === 0) return "0";
  if (Math.abs(x) >= 1e-3 && Math.abs(x) < 1e6) return String(Number(x.toPrecision(4)));
  return x.toExponential(3);
}

function listed(names: readonly string[]): string {
  const shown = names.slice(0, 3).join(", ");
  return names.length > 3 ? `${shown}, … ${names.length - 3} more` : shown;
}

/** What is missing or misshapen, as a clause to append (`1 tensor only in a (lm_head.weight)`), or "". */
function structure(v: VerdictInput): string {
  const parts: string[] = [];
  if (v.onlyInA.length > 0) parts.push(`${plural(v.onlyInA.length, "tensor")} only in a (${listed(v.onlyInA)})`);
  if (v.onlyInB.length > 0) parts.push(`${plural(v.onlyInB.length, "tensor")} only in b (${listed(v.onlyInB)})`);
  if (v.shapeMismatches.length > 0) parts.push(`${plural(v.shapeMismatches.length, "shape mismatch", "shape mismatches")} (${listed(v.shapeMismatches.map((m) => m.name))})`);
  return parts.join(", ");
}

function withStructure(text: string, v: VerdictInput): string {
  const s = structure(v);
  return s === "" ? text : `${text}; also ${s}`;
}

function damageOf(changed: readonly TensorDiff[]): { toInfinity: number; nanAppeared: number } {
  let toInfinity = 0;
  let nanAppeared = 0;
  for (const t of changed) {
    toInfinity += t.values?.toInfinity ?? 0;
    nanAppeared += t.values?.nanAppeared ?? 0;
  }
  return { toInfinity, nanAppeared };
}

function damageText(d: { toInfinity: number; nanAppeared: number }): string {
  const parts: string[] = [];
  if (d.toInfinity > 0) parts.push(`${plural(d.toInfinity, "value")} overflowed to inf`);
  if (d.nanAppeared > 0) parts.push(`${plural(d.nanAppeared, "value")} became NaN`);
  return parts.join(", ");
}

function labels(dtypes: Iterable<DType>): string {
  return [...new Set(dtypes)].map(dtypeLabel).join(" and ");
}

/** A verdict for changes that are all dtype changes of float tensors (every same-dtype tensor bit-identical). */
function castVerdict(v: VerdictInput, casts: readonly TensorDiff[]): Verdict | null {
  const from = new Set(casts.map((t) => t.values?.cast?.from));
  if (from.size !== 1 || casts.some((t) => t.values === null)) return null;
  const damage = damageOf(casts);
  const maxUlp = Math.max(...casts.map((t) => t.values?.maxUlp ?? 0));
  const offCast = casts.reduce((n, t) => n + (t.values?.cast?.notNearestEven ?? 0), 0);
  const of = plural(casts.length, "tensor");
  if (from.has("a")) {
    const to = labels(casts.map((t) => t.dtypeB));
    if (damage.toInfinity + damage.nanAppeared > 0) {
      const hit = casts.filter((t) => (t.values?.toInfinity ?? 0) + (t.values?.nanAppeared ?? 0) > 0).length;
      return { code: "CAST_DAMAGED", severity: "error", text: withStructure(`b is a rounded to ${to}: ${damageText(damage)} (damaged), in ${count(hit)} of ${of}`, v) };
    }
    if (offCast === 0) {
      return { code: "CLEAN_CAST", severity: "info", text: withStructure(`b = a rounded to ${to} (round-to-nearest-even, max ${num(maxUlp)} ulp): a clean cast of ${of}`, v) };
    }
    const clamped = casts.reduce((n, t) => n + (t.values?.clamped ?? 0), 0);
    if (clamped > 0 && clamped === offCast) {
      const hit = casts.filter((t) => (t.values?.clamped ?? 0) > 0).length;
      const max = casts.find((t) => (t.values?.clamped ?? 0) > 0)?.dtypeB === "F16" ? "±65504" : "the largest finite value";
      return {
        code: "CAST_CHANGED",
        severity: "warning",
        text: withStructure(`b = a rounded to ${to} with ${plural(clamped, "value")} clamped to ${max} instead of overflowing (values changed), in ${count(hit)} of ${of}`, v),
      };
    }
    return {
      code: "CAST_CHANGED",
      severity: "warning",
      text: withStructure(`b = a converted to ${to}, but ${plural(offCast, "value")} are not the round-to-nearest-even cast of a's (values changed, max ${num(maxUlp)} ulp) in ${of}`, v),
    };
  }
  const wider = labels(casts.map((t) => t.dtypeB));
  const narrower = labels(casts.map((t) => t.dtypeA));
  const changed = casts.reduce((n, t) => n + (t.values?.changed ?? 0), 0);
  if (changed === 0) {
    return { code: "EXACT_WIDENING", severity: "info", text: withStructure(`b = a widened to ${wider}: every value kept exactly (a clean cast of ${of})`, v) };
  }
  if (offCast === 0 && damage.nanAppeared === 0) {
    return { code: "CLEAN_CAST", severity: "info", text: withStructure(`a = b rounded to ${narrower} (round-to-nearest-even, max ${num(maxUlp)} ulp): b is the wider original, a a clean cast of ${of}`, v) };
  }
  return { code: "CAST_CHANGED", severity: "warning", text: withStructure(`b = a converted to ${wider}, but ${plural(changed, "value")} changed (max ${num(maxUlp)} ulp) in ${of}`, v) };
}

/** The verdict of a diff (see the file comment). */
export function verdictOf(v: VerdictInput): Verdict {
  const changed = v.tensors.filter((t) => !t.bitIdentical);
  const missing = v.onlyInA.length + v.onlyInB.length + v.shapeMismatches.length;
  if (changed.length === 0) {
    if (missing === 0 && !v.renamed) return { code: "IDENTICAL", severity: "ok", text: "b is a bit-exact copy of a" };
    if (missing === 0) return { code: "IDENTICAL_RENAMED", severity: "info", text: `b holds a's ${plural(v.tensors.length, "tensor")} bit for bit, under names that differ by a wrapper prefix` };
    return { code: "DIFFERENT", severity: "warning", text: `${plural(v.tensors.length, "tensor")} in both, all bit-identical; but ${structure(v)}` };
  }
  const sameDtype = changed.filter((t) => t.dtypeA === t.dtypeB);
  const recast = changed.filter((t) => t.dtypeA !== t.dtypeB);
  if (sameDtype.length === 0 && recast.every((t) => t.compared === "values")) {
    const cast = castVerdict(v, recast);
    if (cast !== null) return cast;
  }
  const damage = damageOf(changed);
  const damaged = damage.toInfinity + damage.nanAppeared > 0;
  if (recast.length === 0 && !damaged && sameDtype.every((t) => t.values !== null && LORA_GROUPS.has(groupOf(t.name)) && t.shape.length === 2)) {
    const seen = new Set(sameDtype.map((t) => groupOf(t.name)));
    const groups = [...LORA_GROUPS].filter((g) => seen.has(g as never)).join(", ");
    return {
      code: "LORA_MERGE",
      severity: "warning",
      text: withStructure(`b = a with a LoRA merge on ${plural(sameDtype.length, "tensor")} (${groups} projections changed; every other tensor bit-identical)`, v),
    };
  }
  const extra = [
    ...(recast.length > 0 ? [`${count(recast.length)} with a dtype change`] : []),
    ...(damaged ? [`${damageText(damage)}: damaged`] : []),
  ];
  return {
    code: "DIFFERENT",
    severity: damaged ? "error" : "warning",
    text: withStructure(`b differs from a in ${plural(changed.length, "tensor")} (${[listed(changed.map((t) => t.name)), ...extra].join("; ")})`, v),
  };
}
