/**
 * The mutable counter behind a {@link CastReport}. Kernels either hand it each (source, result) value pair
 * through {@link Tally.observe}, or, on their fast paths, add counts and offer error candidates directly.
 */
import type { FloatDType } from "./table.js";
import type { CastReport } from "./report.js";

/** Smallest positive normal value of each float dtype. */
export const MIN_NORMAL: Record<FloatDType, number> = {
  F16: 2 ** -14,
  BF16: 2 ** -126,
  F32: 2 ** -126,
  F64: 2 ** -1022,
};

export class Tally {
  elements = 0;
  changed = 0;
  toInfinity = 0;
  toZero = 0;
  toSubnormal = 0;
  nan = 0;
  maxAbsError = 0;
  maxRelError = 0;
  private readonly sourceMinNormal: number;
  private readonly targetMinNormal: number;

  constructor(readonly from: FloatDType, readonly to: FloatDType) {
    this.sourceMinNormal = MIN_NORMAL[from];
    this.targetMinNormal = MIN_NORMAL[to];
  }

  /**
   * Record `count` elements whose source value is `x` and converted value is `y` (both exact as float64;
   * a NaN source must have a NaN result). This is the reference definition of every field of the report.
   */
  observe(x: number, y: number, count = 1): void {
    if (x !== x) {
      this.nan += count;
      return;
    }
    const ax = Math.abs(x);
    const ay = Math.abs(y);
    // A value may also become subnormal unchanged (float64 2^-130 is a float32 subnormal).
    if (ay !== 0 && ay < this.targetMinNormal && ax >= this.sourceMinNormal) this.toSubnormal += count;
    if (y === x) return; // also ±0 → ±0 and ±inf → ±inf (conversions keep the sign)
    this.changed += count;
    if (ay === Infinity) {
      this.toInfinity += count; // x is finite here: an infinite x converts to itself
      return;
    }
    if (ay === 0) this.toZero += count;
    const err = Math.abs(x - y);
    this.offer(err, err / ax);
  }

  /** Offer an error pair of an element finite in source and result, with a non-zero source. */
  offer(absError: number, relError: number): void {
    if (absError > this.maxAbsError) this.maxAbsError = absError;
    if (relError > this.maxRelError) this.maxRelError = relError;
  }

  report(): CastReport {
    return {
      from: this.from,
      to: this.to,
      elements: this.elements,
      changed: this.changed,
      toInfinity: this.toInfinity,
      toZero: this.toZero,
      toSubnormal: this.toSubnormal,
      nan: this.nan,
      // A finite value that became ±inf is an infinite error: the maxima say so, not only the count.
      maxAbsError: this.toInfinity > 0 ? Infinity : this.maxAbsError,
      maxRelError: this.toInfinity > 0 ? Infinity : this.maxRelError,
    };
  }
}
