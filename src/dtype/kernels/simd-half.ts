/**
 * The float16 ↔ bfloat16 functions of the cast module (simd-module.ts), 16 elements (two vectors of 16-bit lanes) a
 * step, the loss report in the same pass: `f16ToBf16(n) → specials` and `bf16ToF16(n) → specials` (n: a positive
 * multiple of 16, at most SIMD_BLOCK). A lane the step does not convert itself (its output here is garbage) has its
 * index listed at the scratch list, for the caller to convert one by one as half-to-half.ts does; the return value is how
 * many were listed.
 *
 * float16 → bfloat16 (converts zeros, normals and infinities; lists subnormals and NaNs). A normal
 * keeps its exponent and loses the low 3 of its 10 mantissa bits, rounded to nearest even on the float16 bits
 * themselves: r = (mag + 3 + ((mag >> 3) & 1)) >> 3, bfloat16 magnitude r + (112 << 7) (the carry into the next
 * binade, up to 65,536 for 65,504, is exact: bfloat16 has float32's range). Such a lane's error is d ulps of its
 * source, d = min(low, 8 − low) (low: the 3 bits cut), so its report is kept as integers:
 * - changed: low ≠ 0; the lanes with low = 0 are counted (−1 each per 16-bit lane, at most SIMD_BLOCK / 8 per
 *   lane), listed lanes among them (their low taken as 0), so that changed = n − that count;
 * - |error| = d · 2^(E − 25) (E: the biased exponent), kept as the per-lane maximum of the key 2E + c(d),
 *   c(1, 2, 3, 4) = (0, 2, 3, 4), which orders errors as their values do (d = 2 and 4 are powers of two; 3 · 2^E
 *   lies strictly between 2^(E+1) and 2^(E+2)); c(d) and d come from the 3 bits by i8x16.swizzle tables, and the
 *   key as (2E + 62 + c(d)) −sat 62, which is 0 for low = 0 since 2E ≤ 62; {@link absErrorOfKey} decodes it;
 * - relative error d / M (M: the mantissa with its hidden bit, 1024..2047), exactly the float64 quotient
 *   |x − y| / |x| the JS kernel computes (both scale by the same power of two); the per-lane largest kept as the
 *   pair (d, M), compared without division: d · M' > d' · M (products below 2^13).
 * Writes at the scratch stats: i32 changed (among the lanes not listed), then per lane (16-bit): the |error| key at +16,
 * d at +32, M at +48 (d = 0: no error).
 *
 * bfloat16 → float16 (converts zeros, exact values, values that overflow and infinities; lists values below
 * float16's smallest normal, 2^-14, and NaNs). A bfloat16 with an exponent in float16's normal range is exact:
 * its float16 bits are (mag << 3) − (112 << 10) (mod 2^16). From 65,536 up (mag ≥ 0x4780: bfloat16 has 7 mantissa
 * bits, so its largest value below is 65,280 and exact) every finite value overflows to infinity, counted as changed
 * and as made infinite, the damage the report exists to show; its error is infinite, which the report states from
 * that count alone. Writes at the scratch stats: i32 values made infinite (among the lanes not listed).
 */
import { IN_PTR, OUT_PTR, type Scratch } from "./simd-layout.js";
import { I32, listSetLanes, s, V128, v } from "./simd-ops.js";
import { i32Const as c } from "./wasm-bytes.js";

// Locals: param n; then i32s; then v128s (the same declaration for both functions).
const N = 0;
const P = 1, NS = 2, BM = 3;
const H = 4, MAG = 5, LOW = 6, D = 8, T = 9, EQ = 10, AK = 11, DB = 12, MB = 13;
/** The listed lanes of the step's two vectors. */
const SPS = [7, 31] as const;
const K = {
  x7fff: 14, x7: 15, x83ff: 16, x7c00: 17, x3800: 18, x3: 19, x1: 20, x3e: 22, x3ff: 23, x400: 24, zero: 25,
  xc000: 26, x477f: 27, xb87f: 28, x7f80: 29, x7f7f: 30,
} as const;
const V128_LOCALS = 28;
/** After the v128s: the input address (global `inAt`), where P stops, and the output's distance from the input. */
const IN0 = 32, END = 33, DELTA = 34;

/** The half-to-half functions' locals, as a function body declares them. */
export const HALF_LOCALS = [[3, I32], [V128_LOCALS, V128], [3, I32]];

/** d = min(low, 8 − low) for each value of the 3 bits cut (low), as an i8x16.swizzle table. */
const D_OF_LOW = [0, 1, 2, 3, 4, 3, 2, 1];
/** 62 + c(d) for each low (c(1, 2, 3, 4) = 0, 2, 3, 4), 0 for low = 0. */
const KEY_OF_LOW = D_OF_LOW.map((d) => (d === 0 ? 0 : 62 + ([0, 0, 2, 3, 4][d] ?? 0)));

/** `i16x8.splat(n)` into local `l`. */
function constant(l: number, n: number): number[] {
  return [...c(n), ...v.i16x8splat, ...s.set(l)];
}

/**
 * Vector k of the step (elements 8k.. from input address P): H = the vector, MAG = |H|; leaves the output address
 * on the stack (P + DELTA, the output stored at offset 16k). Input and output lie where the globals `inAt` and
 * `outAt` say: the scratch block, or a chunk resident in the memory, converted in place.
 */
function loadVector(k: 0 | 1): number[] {
  return [...s.get(P), ...s.get(DELTA), ...s.add, ...s.get(P), ...v.load(16 * k), ...s.tee(H), ...s.get(K.x7fff), ...v.and, ...s.set(MAG)];
}

/** P, IN0, END and DELTA from the globals, for a call of n elements. */
function addresses(): number[] {
  return [
    ...IN_PTR, ...s.tee(P), ...s.tee(IN0), ...s.get(N), ...c(1), ...s.shl, ...s.add, ...s.set(END),
    ...OUT_PTR, ...s.get(IN0), ...s.sub, ...s.set(DELTA),
  ];
}

/** Step end: list the lanes of SPS (rare: tested once for both vectors), advance P, loop while P < END. */
function endStep(sc: Scratch): number[] {
  return [
    ...s.get(SPS[0]), ...s.get(SPS[1]), ...v.or, ...v.anyTrue, ...s.if,
    ...s.get(SPS[0]), ...v.i16x8bitmask, ...s.get(SPS[1]), ...v.i16x8bitmask, ...c(8), ...s.shl, ...s.or, ...s.set(BM),
    ...listSetLanes(sc.list, NS, BM, [...s.get(P), ...s.get(IN0), ...s.sub, ...c(1), ...s.shrU]),
    ...s.end,
    ...s.get(P), ...c(32), ...s.add, ...s.tee(P), ...s.get(END), ...s.ltU, s.brIf, 0,
  ];
}

/** The sum of the 8 16-bit lanes of local `l` (as int16), on the stack. */
function laneSum(l: number): number[] {
  return [
    ...s.get(l), ...v.extaddPairwiseS, ...s.tee(T), ...v.i32x4extract(0), ...s.get(T), ...v.i32x4extract(1), ...s.add,
    ...s.get(T), ...v.i32x4extract(2), ...s.add, ...s.get(T), ...v.i32x4extract(3), ...s.add,
  ];
}

/** One float16 → bfloat16 vector (k: 0 or 1, of the step). */
function f16Vector(k: 0 | 1): number[] {
  return [
    ...loadVector(k),
    // listed: subnormal (mag − 1 <u 0x3ff, as (mag + 0x7fff) <s 0x83ff) or NaN (mag >s 0x7c00)
    ...s.get(MAG), ...s.get(K.x7fff), ...v.i16x8add, ...s.get(K.x83ff), ...v.i16x8ltS,
    ...s.get(MAG), ...s.get(K.x7c00), ...v.i16x8gtS, ...v.or, ...s.set(SPS[k]),
    // out = sign | ((mag + 3 + ((mag >> 3) & 1)) >> 3) + bias; bias 0x3800, 0 for zero, 0x7000 for infinity
    ...s.get(MAG), ...c(3), ...v.i16x8shrU, ...s.get(K.x1), ...v.and, ...s.get(MAG), ...v.i16x8add, ...s.get(K.x3), ...v.i16x8add,
    ...c(3), ...v.i16x8shrU,
    ...s.get(K.x3800), ...s.get(MAG), ...s.get(K.zero), ...v.i16x8eq, ...v.andnot, ...v.i16x8add,
    ...s.get(MAG), ...s.get(K.x7c00), ...v.i16x8eq, ...s.get(K.x3800), ...v.and, ...v.i16x8add,
    ...s.get(H), ...s.get(MAG), ...v.xor, ...v.or,
    ...v.store(16 * k),
    // LOW = the low 3 bits, 0 where listed; lanes with LOW = 0 (unchanged or listed) counted, −1 each
    ...s.get(MAG), ...s.get(K.x7), ...v.and, ...s.get(SPS[k]), ...v.andnot, ...s.tee(LOW),
    ...s.get(K.zero), ...v.i16x8eq, ...s.get(EQ), ...v.i16x8add, ...s.set(EQ),
    // d = min(low, 8 − low) by table (i8x16.swizzle: the high byte of each lane reads entry 0, 0)
    ...v.const(D_OF_LOW), ...s.get(LOW), ...v.swizzle, ...s.set(D),
    // |error| key 2E + c(d) = (2E + 62 + c(d)) −sat 62, 0 where LOW = 0 (2E ≤ 62, also for NaN and subnormal)
    ...s.get(MAG), ...c(9), ...v.i16x8shrU, ...s.get(K.x3e), ...v.and, ...v.const(KEY_OF_LOW), ...s.get(LOW), ...v.swizzle, ...v.i16x8add,
    ...s.get(K.x3e), ...v.i16x8subSatU, ...s.get(AK), ...v.i16x8maxU, ...s.set(AK),
    // the largest d / M per lane: replaced where d · MB > DB · M
    ...s.get(MAG), ...s.get(K.x3ff), ...v.and, ...s.get(K.x400), ...v.or, ...s.set(LOW), // M (LOW is free here)
    ...s.get(D), ...s.get(MB), ...v.i16x8mul, ...s.get(DB), ...s.get(LOW), ...v.i16x8mul, ...v.i16x8gtS, ...s.set(T),
    ...s.get(D), ...s.get(DB), ...s.get(T), ...v.bitselect, ...s.set(DB),
    ...s.get(LOW), ...s.get(MB), ...s.get(T), ...v.bitselect, ...s.set(MB),
  ];
}

/** `f16ToBf16(n) → specials`. */
export function f16ToBf16Body(sc: Scratch): number[] {
  return [
    ...constant(K.x7fff, 0x7fff), ...constant(K.x7, 7), ...constant(K.x83ff, 0x83ff), ...constant(K.x7c00, 0x7c00),
    ...constant(K.x3800, 0x3800), ...constant(K.x3, 3), ...constant(K.x1, 1), ...constant(K.x3e, 0x3e),
    ...constant(K.x3ff, 0x3ff), ...constant(K.x400, 0x400), ...constant(MB, 1), ...addresses(),
    ...s.loop,
    ...f16Vector(0), ...f16Vector(1),
    ...endStep(sc),
    ...s.end,
    // changed = n − (unchanged + listed)
    ...c(sc.stats), ...s.get(N), ...laneSum(EQ), ...s.add, ...s.i32store(0),
    ...c(sc.stats), ...s.get(AK), ...v.store(16),
    ...c(sc.stats), ...s.get(DB), ...v.store(32),
    ...c(sc.stats), ...s.get(MB), ...v.store(48),
    ...s.get(NS),
    ...s.end,
  ];
}

/** One bfloat16 → float16 vector (k: 0 or 1, of the step). */
function bf16Vector(k: 0 | 1): number[] {
  return [
    ...loadVector(k),
    // listed: below float16's normal range but not zero (mag − 1 <u 0x387f, as (mag + 0x7fff) <s 0xb87f), or NaN
    ...s.get(MAG), ...s.get(K.x7fff), ...v.i16x8add, ...s.get(K.xb87f), ...v.i16x8ltS,
    ...s.get(MAG), ...s.get(K.x7f80), ...v.i16x8gtS, ...v.or, ...s.set(SPS[k]),
    // out = sign | (mag ≥ 0x4780 ? 0x7c00 : (mag << 3) − 0xc000), 0 for zero
    ...s.get(K.x7c00), ...s.get(MAG), ...c(3), ...v.i16x8shl, ...s.get(K.xc000), ...v.i16x8sub,
    ...s.get(MAG), ...s.get(K.x477f), ...v.i16x8gtS, ...s.tee(T), ...v.bitselect,
    ...s.get(MAG), ...s.get(K.zero), ...v.i16x8eq, ...v.andnot,
    ...s.get(H), ...s.get(MAG), ...v.xor, ...v.or,
    ...v.store(16 * k),
    // finite values made infinite (0x4780 ≤ mag < 0x7f80), −1 each
    ...s.get(T), ...s.get(MAG), ...s.get(K.x7f7f), ...v.i16x8gtS, ...v.andnot, ...s.get(EQ), ...v.i16x8add, ...s.set(EQ),
  ];
}

/** `bf16ToF16(n) → specials`. */
export function bf16ToF16Body(sc: Scratch): number[] {
  return [
    ...constant(K.x7fff, 0x7fff), ...constant(K.xc000, 0xc000), ...constant(K.x477f, 0x477f), ...constant(K.x7c00, 0x7c00),
    ...constant(K.xb87f, 0xb87f), ...constant(K.x7f80, 0x7f80), ...constant(K.x7f7f, 0x7f7f), ...addresses(),
    ...s.loop,
    ...bf16Vector(0), ...bf16Vector(1),
    ...endStep(sc),
    ...s.end,
    ...c(sc.stats), ...c(0), ...laneSum(EQ), ...s.sub, ...s.i32store(0),
    ...s.get(NS),
    ...s.end,
  ];
}

/**
 * The |error| of float16 → bfloat16 lanes whose largest key is `key` (see above): 0 for none; d · 2^(E − 25)
 * otherwise (even keys 2E + c with c ∈ {0, 2, 4} are 2^(key/2 − 25); odd keys are d = 3).
 */
export function absErrorOfKey(key: number): number {
  if (key === 0) return 0;
  return (key & 1) === 0 ? 2 ** ((key >>> 1) - 25) : 3 * 2 ** (((key - 3) >>> 1) - 25);
}
