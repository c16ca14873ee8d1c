/**
 * Cheap integer pre-filters for the fast float32 → 16-bit paths. Those paths know each element's rounding
 * error as `d` units of its float32 ulp 2^(e−150) (e: biased exponent, normal sources only, so the
 * mantissa m with its hidden bit is ≥ 2^23). An element can raise the report's maxima only if
 *   - abs: d · 2^(e−150) > maxAbsError, impossible when e ≤ exponentCut (d never exceeds dMax), or
 *   - rel: d / m > maxRelError, impossible when d ≤ relCut (since m ≥ 2^23).
 * The cuts only skip elements that cannot matter; those that pass are checked exactly.
 */

const TWO_POW_23 = 2 ** 23;

/** 2^(e−150) for biased float32 exponents e = 0..255 (e = 0 uses 1: subnormals share the smallest ulp). */
export const ULP_OF_EXPONENT = (() => {
  const t = new Float64Array(256);
  for (let e = 0; e < 256; e++) t[e] = 2 ** (Math.max(e, 1) - 150);
  return t;
})();

/**
 * Largest exponent e such that 2^dMaxLog2 · 2^(e−150) ≤ maxAbs, within −1..255: −1 (nothing skips) when maxAbs
 * is 0, negative or NaN; 255 (every exponent skips: no finite error exceeds it) when it is +∞.
 */
export function exponentCut(maxAbs: number, dMaxLog2: number): number {
  if (!(maxAbs > 0)) return -1;
  if (maxAbs === Infinity) return 255; // log2 below would be ∞, and the loops never end
  let k = Math.floor(Math.log2(maxAbs));
  while (2 ** k > maxAbs) k -= 1; // make k = floor(log2(maxAbs)) exactly, whatever log2's rounding
  while (2 ** (k + 1) <= maxAbs) k += 1;
  return Math.min(255, Math.max(-1, k + 150 - dMaxLog2));
}

/** Largest d that certainly cannot raise maxRel (−1: none). Conservative by one. */
export function relCut(maxRel: number): number {
  return maxRel > 0 ? Math.floor(maxRel * TWO_POW_23) - 1 : -1;
}

/**
 * The `low` bits cut off an element (0 ≤ low < width) give d = min(low, width − low). Returns [lo, span]
 * such that d > cut ⇔ (low − lo) >>> 0 < span.
 */
export function relWindow(cut: number, width: number): [number, number] {
  const lo = cut + 1;
  return [lo, Math.max(0, width - 2 * lo + 1)];
}

/** Rounding error, in float32 ulps, of an element whose cut-off bits are `low` (of `width` possible). */
export function ulpsOff(low: number, width: number): number {
  return low <= width >>> 1 ? low : width - low;
}

/** Absolute rounding error of a normal float32 element with magnitude bits `a`. */
export function absErrorOf(a: number, low: number, width: number): number {
  return ulpsOff(low, width) * (ULP_OF_EXPONENT[a >>> 23] ?? 0);
}

/** Relative rounding error of a normal float32 element with magnitude bits `a`. */
export function relErrorOf(a: number, low: number, width: number): number {
  return ulpsOff(low, width) / ((a & 0x7fffff) | 0x800000);
}

/** The three cut values as int32 (the fast loops keep them in registers). */
export function eCutInt(maxAbs: number, dMaxLog2: number): number {
  return exponentCut(maxAbs, dMaxLog2) | 0;
}
export function relLoInt(maxRel: number, width: number): number {
  return relWindow(relCut(maxRel), width)[0] | 0;
}
export function relSpanInt(maxRel: number, width: number): number {
  return relWindow(relCut(maxRel), width)[1] | 0;
}
