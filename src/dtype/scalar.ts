/**
 * One-element conversions on bit patterns (numbers holding uint16/uint32 bits), exact IEEE 754
 * round-to-nearest-even, no flush-to-zero. They define the results; the kernels are faster loops that
 * must agree with them, and fall back on them for rare elements.
 *
 * NaN rule, for every conversion: the result is a quiet NaN with the source's sign and the top bits of
 * its payload (as x86 hardware does for float64 ↔ float32). PyTorch 1.13 is not consistent here: it keeps
 * sign and payload when widening, but narrowing to float16 gives 0x7e00|sign and narrowing to bfloat16
 * gives 0xffff or 0x7fc0 depending on its code path; see test/dtype/fixtures.test.ts.
 */

/** float32 bits → float16 bits. */
export function f32BitsToF16(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const a = bits & 0x7fffffff;
  if (a >= 0x7f800000) {
    if (a === 0x7f800000) return sign | 0x7c00;
    return sign | 0x7e00 | ((a >>> 13) & 0x1ff);
  }
  // 65520 = 65504 + half an ulp: a tie that rounds to the odd 0x7bff's even neighbour, infinity.
  if (a >= 0x477ff000) return sign | 0x7c00;
  // Normal results: rebias the exponent (127 − 15 = 112) and round off 13 mantissa bits.
  if (a >= 0x38800000) return sign | ((a - 0x38000000 + 0xfff + ((a >>> 13) & 1)) >>> 13);
  // Subnormal results (or the minimum normal, by rounding up): value / 2^-24, rounded to nearest even.
  if (a > 0x33000000) {
    const exponent = a >>> 23; // 102..112
    const mantissa = (a & 0x7fffff) | 0x800000;
    const shift = 126 - exponent; // 14..24
    const half = 1 << (shift - 1);
    const kept = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const up = rest > half || (rest === half && (kept & 1) === 1);
    return sign | (kept + (up ? 1 : 0));
  }
  // At most 2^-25, half the smallest subnormal: rounds to zero (2^-25 itself is a tie, even is 0).
  return sign;
}

/** float32 bits → bfloat16 bits. */
export function f32BitsToBf16(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff;
  // Adding 0x7fff plus the kept lsb rounds to nearest even; the carry may reach the exponent (→ inf).
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float16 bits → float32 bits (exact). */
export function f16BitsToF32(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0x1f) {
    if (mantissa === 0) return (sign | 0x7f800000) >>> 0;
    return (sign | 0x7fc00000 | (mantissa << 13)) >>> 0;
  }
  if (exponent !== 0) return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0;
  // Subnormal: value = mantissa · 2^-24; normalise so the leading 1 reaches bit 10.
  let m = mantissa;
  let shift = 0;
  while ((m & 0x400) === 0) {
    m <<= 1;
    shift += 1;
  }
  return (sign | ((113 - shift) << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

/** bfloat16 bits → float32 bits (exact; a signalling NaN is made quiet). */
export function bf16BitsToF32(h: number): number {
  const quiet = (h & 0x7fff) > 0x7f80 ? 0x400000 : 0;
  return ((h << 16) | quiet) >>> 0;
}

/** float16 bits → bfloat16 bits (one rounding: float16 → float32 is exact). */
export function f16BitsToBf16(h: number): number {
  return f32BitsToBf16(f16BitsToF32(h));
}

/** bfloat16 bits → float16 bits (one rounding: bfloat16 → float32 is exact). */
export function bf16BitsToF16(h: number): number {
  return f32BitsToF16(bf16BitsToF32(h));
}

/** High word of a float64 NaN → float32 NaN bits (sign, top 23 payload bits, quiet). */
export function f64NanToF32Bits(hi: number, lo: number): number {
  return ((hi & 0x80000000) | 0x7fc00000 | ((hi & 0xfffff) << 3) | (lo >>> 29)) >>> 0;
}

/** float32 NaN bits → float64 NaN words (sign, payload, quiet). */
export function f32NanToF64Words(bits: number): { hi: number; lo: number } {
  const mantissa = bits & 0x7fffff;
  return {
    hi: ((bits & 0x80000000) | 0x7ff80000 | (mantissa >>> 3)) >>> 0,
    lo: (mantissa << 29) >>> 0,
  };
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** The value of float32 bits, as a number (NaN stays NaN, its payload is not kept). */
export function f32Value(bits: number): number {
  scratchBits[0] = bits;
  return scratch[0] ?? NaN;
}

/**
 * A finite or infinite float64 (not NaN) rounded to float32 with round-to-odd: truncate toward zero and
 * set the last bit when anything was cut off. Rounding that result once more, to a format at least two
 * bits narrower (float16, bfloat16), gives exactly the round-to-nearest-even of the float64: no double
 * rounding. (float32 keeps ≥ 13 more bits than both at every magnitude they can represent.)
 */
export function f64ToF32BitsRoundToOdd(x: number): number {
  scratch[0] = x;
  const nearest = scratch[0] ?? 0;
  let bits = scratchBits[0] ?? 0;
  if (nearest !== x) {
    if (Math.abs(nearest) > Math.abs(x)) bits -= 1; // rounded away from zero: step back (magnitude ≥ 1 ulp)
    bits |= 1;
  }
  return bits >>> 0;
}
