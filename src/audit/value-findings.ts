/**
 * Findings from the value scan: NaN, ±inf, the float16 overflow signature (±inf, or values at ±65504, in float16
 * tensors: what a bfloat16 → float16 conversion leaves where |x| > 65504), values a float16 copy could not hold,
 * all-zero tensors, and a large share of subnormal values.
 */
import type { Finding } from "../report/page-data.js";
import { finding, plural, someNames } from "./finding.js";
import type { AuditTensor } from "./read-model.js";
import type { ValueStats } from "./value-scan.js";

/** A tensor with more than this share of subnormal values is reported. */
export const SUBNORMAL_SHARE_LIMIT = 0.01;

type Scanned = readonly [AuditTensor, ValueStats];

function names(list: readonly Scanned[]): string[] {
  return [...new Set(list.map(([t]) => t.name))];
}

function total(list: readonly Scanned[], f: (s: ValueStats) => number): number {
  return list.reduce((n, [, s]) => n + f(s), 0);
}

/** Findings of the value scan, for the tensors a loader uses (and any other copy scanned). */
export function valueFindings(stats: ReadonlyMap<AuditTensor, ValueStats>): Finding[] {
  const all = [...stats];
  const out: Finding[] = [];
  const inf = (s: ValueStats) => s.posInf + s.negInf;
  const nan = all.filter(([, s]) => s.nan > 0);
  if (nan.length > 0) {
    out.push(finding("error", "NAN", `${plural(total(nan, (s) => s.nan), "NaN value")} in ${plural(names(nan).length, "tensor")} (${someNames(names(nan))})`,
      "the model is broken: go back to the last checkpoint without NaN", { tensors: names(nan) }));
  }
  const f16 = all.filter(([t]) => t.dtype === "F16");
  const overflowed = f16.filter(([, s]) => inf(s) > 0);
  if (overflowed.length > 0) {
    const atMax = total(overflowed, (s) => s.atF16Max);
    out.push(finding("error", "F16_OVERFLOW_SIGNATURE",
      `${plural(total(overflowed, inf), "value")} ${total(overflowed, inf) === 1 ? "is" : "are"} ±inf in ${plural(names(overflowed).length, "float16 tensor")} (${someNames(names(overflowed))})${atMax > 0 ? `, ${plural(atMax, "more value")} at ±65504` : ""}: the signature of a bfloat16 → float16 conversion where |x| > 65504`,
      "re-export from the bfloat16 (or float32) weights without converting: truecast export keeps the dtype", { tensors: names(overflowed) }));
  }
  const clamped = f16.filter(([, s]) => inf(s) === 0 && s.atF16Max > 0);
  if (clamped.length > 0) {
    out.push(finding("warning", "F16_CLAMP_SIGNATURE",
      `${plural(total(clamped, (s) => s.atF16Max), "value")} sit exactly at ±65504, the float16 maximum, in ${plural(names(clamped).length, "tensor")} (${someNames(names(clamped))}): values were likely clamped in a conversion to float16`,
      "compare with the original weights (truecast diff); re-export without converting", { tensors: names(clamped) }));
  }
  const otherInf = all.filter(([t, s]) => t.dtype !== "F16" && inf(s) > 0);
  if (otherInf.length > 0) {
    out.push(finding("error", "INF", `${plural(total(otherInf, inf), "value")} ${total(otherInf, inf) === 1 ? "is" : "are"} ±inf in ${plural(names(otherInf).length, "tensor")} (${someNames(names(otherInf))})`,
      "the model is broken: find where the infinities came from (an overflowing conversion or merge)", { tensors: names(otherInf) }));
  }
  const wide = all.filter(([, s]) => s.overF16 > 0);
  if (wide.length > 0) {
    out.push(finding("warning", "WOULD_OVERFLOW_F16",
      `${plural(total(wide, (s) => s.overF16), "value")} in ${plural(names(wide).length, "tensor")} (${someNames(names(wide))}) exceed ±65504: a float16 copy of this model would turn them into ±inf`,
      "never publish or load this model as float16; keep bfloat16 or float32", { tensors: names(wide) }));
  }
  const zero = all.filter(([, s]) => s.elements > 0 && s.zero === s.elements);
  if (zero.length > 0) {
    out.push(finding("warning", "ALL_ZERO", `${plural(names(zero).length, "tensor")} ${names(zero).length === 1 ? "is" : "are"} all zeros (${someNames(names(zero))})`,
      "check that these weights were saved after training (a zeroed or uninitialized tensor)", { tensors: names(zero) }));
  }
  const sub = all.filter(([, s]) => s.elements > 0 && s.subnormal / s.elements > SUBNORMAL_SHARE_LIMIT);
  if (sub.length > 0) {
    out.push(finding("warning", "SUBNORMAL_SHARE",
      `${plural(names(sub).length, "tensor")} hold more than ${SUBNORMAL_SHARE_LIMIT * 100}% subnormal values (${someNames(names(sub))}): precision was lost to underflow, or the values are tiny`,
      "compare with the original weights (truecast diff)", { tensors: names(sub) }));
  }
  return out;
}
