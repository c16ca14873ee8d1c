/**
 * The narrowing functions of the cast module (simd-module.ts): `f32ToBf16(n, maxRel) → specials` and
 * `f32ToF16(n, maxRel) → specials`, the fast path of f32-to-bf16.ts and f32-to-f16.ts, 16 elements a step.
 *
 * A lane is "fast" when its source is in the kernel's fast range (normal, and its rounding stays normal and
 * finite); its rounding and report contribution are then known from the bits cut off: changed iff they are not
 * all zero; |error| = |rounded − x| (exact in float32); relative error d / m (d: the error in float32 ulps,
 * m: the mantissa with its hidden bit, m ≥ 2^23). Each step first tests, on integers only, whether all 16 lanes
 * are fast and none may raise the relative maximum (d ≥ lo, lo = ⌊maxRel · 2^23⌋ + 1: a lane with d < lo has
 * d / m ≤ d / 2^23 ≤ maxRel). Such a step (the common case) rounds its lanes and takes the error maxima and the
 * count of unchanged lanes as vectors, reduced once per call, with no mask and no branch, on 16-bit lanes
 * (simd-bf16-step.ts, simd-f16-step.ts). Any other step goes through the careful path, a function of its own (its state kept
 * in memory at the scratch's `state`, so that the fast loop keeps its registers), 8 lanes at a time: lanes
 * masked by their fast test; relative errors computed exactly in float64 for lanes that pass a conservative
 * float32 filter (d > m · maxRel · (1 − 2^-20), rounded down); the indices of lanes that are not fast go to the
 * list, for the caller to convert one by one (their outputs here are garbage).
 *
 * Input at global `inAt`, output at global `outAt`, the list at the scratch's `list` (simd-layout.ts). Writes at
 * the scratch's `stats`: i32 changed among the fast lanes, f32x4 largest |error| per lane, f64 largest relative
 * error (≥ maxRel).
 */
import { IN_PTR, OUT_PTR, type Scratch } from "./simd-layout.js";
import { type Bf16StepLocals, bf16Step, bf16StepTest } from "./simd-bf16-step.js";
import { type F16StepLocals, f16Step, f16StepTest } from "./simd-f16-step.js";
import { F64, I32, listSetLanes, s, splat, V128, v } from "./simd-ops.js";
import { i32Const as c } from "./wasm-bytes.js";

/** `i16x8.splat(n)`. */
function splat16(n: number): number[] {
  return [...c(n), ...v.i16x8splat];
}

/** Constants of one narrowing kernel. */
export interface Narrowing {
  /** |x| bits in (fastLo − 1, fastHi): the fast range. */
  readonly fastLo: number;
  readonly fastHi: number;
  /** Bits cut off: 16 (bfloat16) or 13 (float16). */
  readonly cut: number;
  /** The fast steps' conservative test (on 16-bit lanes): |x| >>> 16 in [fastLo16, fastHi16). */
  readonly fastLo16: number;
  readonly fastHi16: number;
}

export const BF16_NARROWING: Narrowing = { fastLo: 0x00800000, fastHi: 0x7f7f8000, cut: 16, fastLo16: 0x0080, fastHi16: 0x7f7f };
export const F16_NARROWING: Narrowing = { fastLo: 0x38800000, fastHi: 0x477ff000, cut: 13, fastLo16: 0x3880, fastHi16: 0x477f };

// Locals: params n (i32), maxRel (f64); then i32s, one f64, v128s.
const N = 0, MAXREL = 1;
const I = 2, P = 3, NS = 4, BM = 5;
const MR = 6;
const X = 7, A = 8, R = 9, LOW = 10, EQ = 11, AMAX = 12, THR = 13, RMAX = 14, K_MAG = 15, K_LO = 16, K_HI = 17,
  K_ONE = 18, K_LOWMASK = 19, K_WIDTH = 20, K_MANT = 21, K_HIDDEN = 22, K_ZERO = 23, K_SIGN = 24;
const FAST = [25, 26] as const, D = [27, 28] as const, M = [29, 30] as const, CAND = [31, 32] as const, OUTV = [33, 34] as const;
const XS = [35, 36, 37, 38] as const;
// (locals 39 to 46 unused)
/** After the v128s: the output address of the step (outAt + 2 · I), advanced with P. */
const Q = 65;
const BF16_STEP: Bf16StepLocals = {
  P, Q, XS, HH: [47, 48], LL: [49, 50], OUT: 51, AMAX, AMIN: 52, EQ16: 53, ZERO: K_ZERO, LOW32: 60, MAG16: 54, SIGN16: 55, ONE16: 56,
  FLO16: 57, FK16: 58, RELT16: 59,
};
const F16_STEP: F16StepLocals = {
  P, Q, HH: BF16_STEP.HH, AA: [33, 34], WW: [35, 36], LL: BF16_STEP.LL, DD: [37, 38], T: 31, X: 32, AMAX, EQ16: BF16_STEP.EQ16, ZERO: K_ZERO,
  LOW32: BF16_STEP.LOW32, CUT16: 61, MAG16: BF16_STEP.MAG16, ONE16: BF16_STEP.ONE16, HALF16: 62, WIDTH16: 63, BIAS16: 64,
  FLO16: BF16_STEP.FLO16, FK16: BF16_STEP.FK16, RELT16: BF16_STEP.RELT16,
};
const I32_LOCALS = 4, V128_LOCALS = 58;

/** The narrowing functions' locals, as a function body declares them. */
export const NARROW_LOCALS = [[I32_LOCALS, I32], [1, F64], [V128_LOCALS, V128], [1, I32]];

/**
 * From MR: THR = splat(demote(MR · (1 − 2^-20))), the careful path's filter, never above the maximum; and the
 * fast steps' window, lo = ⌊min(MR · 2^23, 2^24)⌋ + 1, on 16-bit lanes, RELT16: d ≥ lo ⇔ (d ^ 0x8000) >s RELT16 =
 * min(lo − 1, 0x8000) ^ 0x8000 for bfloat16 (d ≤ 0x8000), d >s RELT16 = min(lo − 1, 0x7fff) for float16 (d ≤ 0x1000).
 */
function setCuts(width: number): number[] {
  const relt16 = width === 0x10000
    ? [...s.get(BM), ...c(1), ...s.sub, ...c(0x8000), ...s.get(BM), ...c(0x8001), ...s.ltS, ...s.select, ...c(0x8000), ...s.xor]
    : [...s.get(BM), ...c(1), ...s.sub, ...c(0x7fff), ...s.get(BM), ...c(0x8000), ...s.ltS, ...s.select];
  return [
    ...s.get(MR), ...s.f64const(1 - 2 ** -20), ...s.f64mul, ...s.demote, ...v.f32x4splat, ...s.set(THR),
    ...s.get(MR), ...s.f64const(2 ** 23), ...s.f64mul, ...s.f64const(2 ** 24), ...s.f64min, ...s.f64floor, ...s.i32truncSatF64S,
    ...c(1), ...s.add, ...s.set(BM),
    ...relt16, ...v.i16x8splat, ...s.set(BF16_STEP.RELT16),
  ];
}

/** One careful vector (4 lanes at byte P + off): output lanes in OUTV[k], masks FAST[k], CAND[k], counters updated. */
function carefulLanes(k: 0 | 1, off: number, n: Narrowing): number[] {
  const fast = FAST[k], d = D[k], m = M[k], cand = CAND[k], out = OUTV[k];
  const half = (1 << (n.cut - 1)) - 1;
  // rounded magnitude (as float32 bits) and the 16-bit output
  const rounded = n.cut === 16
    ? [
      // r = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16 (sign included); rounded value bits = r << 16
      ...s.get(X), ...s.get(X), ...c(16), ...v.shrU, ...s.get(K_ONE), ...v.and, ...v.add, ...splat(half), ...v.add,
      ...c(16), ...v.shrU, ...s.tee(out), ...c(16), ...v.shl, ...s.get(X), ...v.f32x4sub, ...v.f32x4abs,
    ]
    : [
      // rm = (a + 0xfff + ((a >>> 13) & 1)) & ~0x1fff;  out = ((x >>> 16) & 0x8000) | ((rm − (112 << 23)) >>> 13)
      ...s.get(A), ...s.get(A), ...c(13), ...v.shrU, ...s.get(K_ONE), ...v.and, ...v.add, ...splat(half), ...v.add,
      ...s.get(K_LOWMASK), ...v.not, ...v.and, ...s.tee(R),
      ...splat(112 << 23), ...v.sub, ...c(13), ...v.shrU, ...s.get(X), ...c(16), ...v.shrU, ...s.get(K_SIGN), ...v.and, ...v.or,
      ...s.set(out),
      ...s.get(R), ...s.get(A), ...v.f32x4sub, ...v.f32x4abs,
    ];
  return [
    ...s.get(P), ...v.load(off), ...s.tee(X), ...s.get(K_MAG), ...v.and, ...s.tee(A),
    ...s.get(K_LO), ...v.i32x4gtS, ...s.get(A), ...s.get(K_HI), ...v.i32x4ltS, ...v.and, ...s.set(fast),
    // |error| of fast lanes into the per-lane maxima (rounded leaves it on the stack)
    ...rounded, ...s.get(fast), ...v.and, ...s.get(AMAX), ...v.f32x4pmax, ...s.set(AMAX),
    // unchanged fast lanes (zero low bits) counted as −1 each
    ...s.get(EQ),
    ...s.get(A), ...s.get(K_LOWMASK), ...v.and, ...s.tee(LOW), ...s.get(K_ZERO), ...v.i32x4eq, ...s.get(fast), ...v.and,
    ...v.add, ...s.set(EQ),
    // d = min(low, width − low); m = mantissa | hidden bit; cand = fast & d > m · thr (float32, conservative)
    ...s.get(LOW), ...s.get(K_WIDTH), ...s.get(LOW), ...v.sub, ...v.minU, ...s.tee(d), ...v.f32x4convertS,
    ...s.get(A), ...s.get(K_MANT), ...v.and, ...s.get(K_HIDDEN), ...v.or, ...s.tee(m), ...v.f32x4convertS, ...s.get(THR), ...v.f32x4mul,
    ...v.f32x4gt, ...s.get(fast), ...v.and, ...s.set(cand),
  ];
}

/** Exact relative errors d / m (float64) of vector k's candidate lanes into RMAX. */
function exactRel(k: 0 | 1): number[] {
  const m = M[k];
  return [
    ...s.get(D[k]), ...s.get(CAND[k]), ...v.and, ...s.set(LOW), // d of candidate lanes, 0 elsewhere (LOW is free here)
    ...s.get(RMAX), ...s.get(LOW), ...v.f64x2convertLowU, ...s.get(m), ...v.f64x2convertLowU, ...v.f64x2div, ...v.f64x2max,
    ...s.get(LOW), ...s.get(LOW), ...v.highHalf, ...v.f64x2convertLowU, ...s.get(m), ...s.get(m), ...v.highHalf,
    ...v.f64x2convertLowU, ...v.f64x2div, ...v.f64x2max, ...s.set(RMAX),
  ];
}

/** The careful path for the 8 elements at element offset `eo` of the step (byte P + 4 · eo). */
function careful8(n: Narrowing, eo: number, sc: Scratch): number[] {
  return [
    ...carefulLanes(0, 4 * eo, n), ...carefulLanes(1, 4 * eo + 16, n),
    // out[i..i+8) = narrow(out0, out1)
    ...OUT_PTR, ...s.get(I), ...c(1), ...s.shl, ...s.add, ...s.get(OUTV[0]), ...s.get(OUTV[1]), ...v.narrowU, ...v.store(2 * eo),
    // rare: a lane may raise the relative maximum
    ...s.get(CAND[0]), ...s.get(CAND[1]), ...v.or, ...v.anyTrue, ...s.if,
    ...exactRel(0), ...exactRel(1),
    ...s.get(RMAX), ...v.f64x2extract(0), ...s.get(RMAX), ...v.f64x2extract(1), ...s.f64max, ...s.set(MR), ...setCuts(1 << n.cut),
    ...s.end,
    // lanes that are not fast: their indices to the list
    ...s.get(FAST[0]), ...s.get(FAST[1]), ...v.and, ...v.allTrue, ...s.eqz, ...s.if,
    ...s.get(FAST[0]), ...v.bitmask, ...s.get(FAST[1]), ...v.bitmask, ...c(4), ...s.shl, ...s.or, ...c(0xff), ...s.xor, ...s.set(BM),
    ...listSetLanes(sc.list, NS, BM, [...s.get(I), ...c(eo), ...s.add]),
    ...s.end,
  ];
}

/** Constants of both functions of a narrowing (same locals in both). */
function constants(n: Narrowing): number[] {
  const width = 1 << n.cut;
  return [
    ...splat(0x7fffffff), ...s.set(K_MAG), ...splat(n.fastLo - 1), ...s.set(K_LO), ...splat(n.fastHi), ...s.set(K_HI),
    ...splat(1), ...s.set(K_ONE), ...splat(width - 1), ...s.set(K_LOWMASK), ...splat(width), ...s.set(K_WIDTH),
    ...splat(0x7fffff), ...s.set(K_MANT), ...splat(0x800000), ...s.set(K_HIDDEN), ...splat(0x8000), ...s.set(K_SIGN),
    ...splat(0xffff), ...s.set(BF16_STEP.LOW32), ...splat16(0x7fff), ...s.set(BF16_STEP.MAG16), ...splat16(0x8000), ...s.set(BF16_STEP.SIGN16), ...splat16(1), ...s.set(BF16_STEP.ONE16),
    ...splat16(0x8000 + n.fastLo16), ...s.set(BF16_STEP.FLO16), ...splat16(n.fastHi16 - n.fastLo16 - 0x8001), ...s.set(BF16_STEP.FK16),
    ...(n.cut === 13
      ? [
        ...splat16(0x1fff), ...s.set(F16_STEP.CUT16), ...splat16(0x1000), ...s.set(F16_STEP.HALF16), ...splat16(0x2000), ...s.set(F16_STEP.WIDTH16),
        ...splat16(0xc000), ...s.set(F16_STEP.BIAS16),
      ]
      : []),
  ];
}

/** The state in memory at `sc.state`: [local, byte offset] of each v128; then MR (f64) at 112, NS (i32) at 120. */
const STATE_V128: Array<[number, number]> = [[EQ, 0], [AMAX, 16], [RMAX, 32], [THR, 48], [BF16_STEP.RELT16, 64]];
function loadCuts(sc: Scratch): number[] {
  return [...c(sc.state), ...v.load(64), ...s.set(BF16_STEP.RELT16)];
}
function saveState(sc: Scratch): number[] {
  return [
    ...STATE_V128.flatMap(([l, at]) => [...c(sc.state), ...s.get(l), ...v.store(at)]),
    ...c(sc.state), ...s.get(MR), ...s.f64store(112), ...c(sc.state), ...s.get(NS), ...s.i32store(120),
  ];
}
function loadState(sc: Scratch): number[] {
  return [
    ...STATE_V128.flatMap(([l, at]) => [...c(sc.state), ...v.load(at), ...s.set(l)]),
    ...c(sc.state), ...s.f64load(112), ...s.set(MR), ...c(sc.state), ...s.i32load(120), ...s.set(NS),
  ];
}

/**
 * The careful path, a function of its own so that the fast loop's registers stay free: `(at, maxRel)` converts the
 * 16 elements from `at` carefully, its state (counts, maxima, cuts) kept in memory at `sc.state`; `at` < 0 starts
 * a block instead (state cleared, relative maximum maxRel). Returns 0.
 */
export function carefulBody(n: Narrowing, sc: Scratch): number[] {
  return [
    ...constants(n),
    ...s.get(N), ...c(0), ...s.ltS, ...s.if,
    ...s.get(MAXREL), ...s.set(MR), ...s.get(MAXREL), ...v.f64x2splat, ...s.set(RMAX), ...setCuts(1 << n.cut), ...saveState(sc),
    ...c(0), ...s.return,
    ...s.end,
    ...loadState(sc), ...s.get(N), ...s.set(I), ...IN_PTR, ...s.get(N), ...c(2), ...s.shl, ...s.add, ...s.set(P),
    ...careful8(n, 0, sc), ...careful8(n, 8, sc),
    ...saveState(sc), ...c(0),
    ...s.end,
  ];
}

/** The exported function: the fast loop, calling the careful path (function `careful`) for the steps it must. */
export function narrowBody(n: Narrowing, careful: number, sc: Scratch): number[] {
  const bf16 = n.cut === 16;
  return [
    ...constants(n), ...IN_PTR, ...s.set(P), ...OUT_PTR, ...s.set(Q),
    ...c(-1), ...s.get(MAXREL), ...s.call(careful), ...s.drop, ...loadCuts(sc),
    ...s.loop,
    ...(bf16 ? bf16StepTest(BF16_STEP) : f16StepTest(F16_STEP)), ...s.if,
    ...s.get(I), ...s.f64const(0), ...s.call(careful), ...s.drop, ...loadCuts(sc),
    ...s.else,
    ...(bf16 ? bf16Step(BF16_STEP) : f16Step(F16_STEP)),
    ...s.end,
    ...s.get(P), ...c(64), ...s.add, ...s.set(P), ...s.get(Q), ...c(32), ...s.add, ...s.set(Q),
    ...s.get(I), ...c(16), ...s.add, ...s.tee(I), ...s.get(N), ...s.ltU, s.brIf, 0,
    ...s.end,
    // the fast steps' accumulators and the careful path's state into EQ and AMAX
    ...s.get(EQ), ...s.get(BF16_STEP.EQ16), ...v.extaddPairwiseS, ...v.add, ...c(sc.state), ...v.load(0), ...v.add, ...s.set(EQ),
    ...s.get(AMAX), ...s.get(BF16_STEP.AMIN), ...v.f32x4abs, ...v.f32x4pmax, ...c(sc.state), ...v.load(16), ...v.f32x4pmax, ...s.set(AMAX),
    ...c(sc.state), ...s.f64load(112), ...s.set(MR), ...c(sc.state), ...s.i32load(120), ...s.set(NS),
    // changed = n − specials − unchanged fast lanes
    ...c(sc.stats), ...s.get(N), ...s.get(NS), ...s.sub,
    ...s.get(EQ), ...v.i32x4extract(0), ...s.add, ...s.get(EQ), ...v.i32x4extract(1), ...s.add,
    ...s.get(EQ), ...v.i32x4extract(2), ...s.add, ...s.get(EQ), ...v.i32x4extract(3), ...s.add, ...s.i32store(0),
    ...c(sc.stats), ...s.get(AMAX), ...v.store(16),
    ...c(sc.stats), ...s.get(MR), ...s.f64store(32),
    ...s.get(NS),
    ...s.end,
  ];
}
