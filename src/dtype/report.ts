/**
 * The loss report of a dtype conversion, per tensor, and how reports combine.
 * Knows nothing of the project beyond the dtype table.
 */
import type { FloatDType } from "./table.js";

/**
 * What one conversion did to one tensor. Every count is over elements; nothing is sampled.
 *
 * "Value" means the real number an element encodes (so -0 and +0 are both zero, and any NaN is NaN).
 */
export interface CastReport {
  /** Source dtype. */
  from: FloatDType;
  /** Target dtype. */
  to: FloatDType;
  /** Elements converted. */
  elements: number;
  /**
   * Elements whose converted value differs from the source value, compared exactly.
   * NaN → NaN is not a change (whatever its payload), nor is -0 → -0 or ±inf → ±inf.
   */
  changed: number;
  /** Finite source values that became ±inf (overflow under round-to-nearest-even). */
  toInfinity: number;
  /** Non-zero source values that became ±0 (underflow). */
  toZero: number;
  /** Source values that are normal in the source dtype and became subnormal (non-zero) in the target. */
  toSubnormal: number;
  /** NaN elements (a NaN always stays NaN). */
  nan: number;
  /**
   * Largest |result − source| over elements finite in the source; Infinity when a finite value became ±inf; 0 when
   * none changed. Exact: the difference of a value and its rounding is representable as a float64.
   */
  maxAbsError: number;
  /**
   * Largest |result − source| / |source| over elements finite in the source with a non-zero source; Infinity when
   * a finite value became ±inf; 0 when none changed. The float64 nearest to the true ratio (an element rounded to zero counts as 1).
   */
  maxRelError: number;
}

/** Reports of many tensors combined: the counts added, the maxima taken. */
export interface CastSummary {
  /** Number of reports combined. */
  tensors: number;
  /** The distinct (from, to) pairs seen, in first-seen order. */
  pairs: Array<{ from: FloatDType; to: FloatDType }>;
  elements: number;
  changed: number;
  toInfinity: number;
  toZero: number;
  toSubnormal: number;
  nan: number;
  maxAbsError: number;
  maxRelError: number;
}

/** Combine per-tensor reports (counts add up, error maxima take the largest). An empty list gives zeros. */
export function summarize(reports: readonly CastReport[]): CastSummary {
  const out: CastSummary = {
    tensors: 0, pairs: [], elements: 0, changed: 0, toInfinity: 0, toZero: 0, toSubnormal: 0, nan: 0,
    maxAbsError: 0, maxRelError: 0,
  };
  for (const r of reports) {
    out.tensors += 1;
    if (!out.pairs.some((p) => p.from === r.from && p.to === r.to)) out.pairs.push({ from: r.from, to: r.to });
    out.elements += r.elements;
    out.changed += r.changed;
    out.toInfinity += r.toInfinity;
    out.toZero += r.toZero;
    out.toSubnormal += r.toSubnormal;
    out.nan += r.nan;
    out.maxAbsError = Math.max(out.maxAbsError, r.maxAbsError);
    out.maxRelError = Math.max(out.maxRelError, r.maxRelError);
  }
  return out;
}
