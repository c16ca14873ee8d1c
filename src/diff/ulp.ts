/**
 * Distance between two values in units in the last place (ulps) of a float dtype: how many steps of that dtype's
 * grid lie between them, with a fraction where a value lies between two grid points (a float32 value measured in
 * bfloat16 ulps). A round-to-nearest-even cast is never more than 0.5 ulp from its source.
 */
import type { FloatDType } from "../dtype/table.js";
import { HI, LO } from "../dtype/host-order.js";

/** Stored mantissa bits and the exponent of the smallest normal value, per dtype. */
const GRID: Record<FloatDType, { readonly mantissaBits: number; readonly minExponent: number }> = {
  F16: { mantissaBits: 10, minExponent: -14 },
  BF16: { mantissaBits: 7, minExponent: -126 },
  F32: { mantissaBits: 23, minExponent: -126 },
  F64: { mantissaBits: 52, minExponent: -1022 },
};

const scratch = new Float64Array(1);
const words = new Uint32Array(scratch.buffer);

/** Measures distances on one dtype's grid. */
export class UlpScale {
  private readonly steps: number;
  private readonly minExponent: number;
  private readonly minNormal: number;

  constructor(dtype: FloatDType) {
    const g = GRID[dtype];
    this.steps = 2 ** g.mantissaBits;
    this.minExponent = g.minExponent;
    this.minNormal = 2 ** g.minExponent;
  }

  /**
   * The distance between `x` and `y` in ulps; 0 when equal (±0 included), Infinity when one is infinite and they
   * differ. NaN not allowed.
   *
   * Each |v| is placed as (binade, fraction): binade 0 holds the subnormals (fraction = |v| / smallest normal),
   * binade k ≥ 1 the values [2^(minExponent+k-1), 2^(minExponent+k)) (fraction = |v| / 2^e − 1, read from the
   * float64 bits). The grid position of |v| is (binade + fraction) × 2^mantissaBits; subtracting binades and
   * fractions separately keeps float64 distances exact for every dtype. Written out inline: it runs per element.
   */
  distance(x: number, y: number): number {
    if (x === y) return 0;
    const ax = Math.abs(x);
    const ay = Math.abs(y);
    if (ax === Infinity || ay === Infinity) return Infinity;
    const minNormal = this.minNormal;
    const bias = 1023 + this.minExponent - 1;
    let kx = 0;
    let fx: number;
    if (ax < minNormal) {
      fx = ax / minNormal;
    } else {
      scratch[0] = ax;
      const hi = words[HI] as number;
      kx = ((hi >>> 20) & 0x7ff) - bias;
      fx = ((hi & 0xfffff) * 4294967296 + (words[LO] as number)) * 2 ** -52;
    }
    let ky = 0;
    let fy: number;
    if (ay < minNormal) {
      fy = ay / minNormal;
    } else {
      scratch[0] = ay;
      const hi = words[HI] as number;
      ky = ((hi >>> 20) & 0x7ff) - bias;
      fy = ((hi & 0xfffff) * 4294967296 + (words[LO] as number)) * 2 ** -52;
    }
    // Same sign (zeros take either): the positions subtract; opposite signs: the path crosses zero, they add.
    const sameSide = (x >= 0 && y >= 0) || (x <= 0 && y <= 0);
    const d = sameSide ? Math.abs(kx - ky + (fx - fy)) : kx + ky + (fx + fy);
    return d * this.steps;
  }
}
