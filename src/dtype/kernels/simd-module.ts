/**
 * The WebAssembly SIMD module of the cast kernels (simd.ts), assembled here byte by byte: no build step, no
 * dependency, nothing downloaded. Its memory (exported as `mem`, {@link SIMD_PAGES} pages, never grown) holds one
 * block: input at {@link IN_AT}, output at {@link OUT_AT}, the indices of the block's special elements at
 * {@link LIST_AT} and the block's report at {@link STATS_AT}. Functions (n: elements, a positive multiple of 8, at
 * most {@link SIMD_BLOCK}):
 *
 * `f32ToBf16(n, maxRel) → specials` and `f32ToF16(n, maxRel) → specials`: the fast path of f32-to-bf16.ts and
 * f32-to-f16.ts on every lane, 8 elements a step. A lane is "fast" when its source is in the kernel's fast range
 * (normal, and its rounding stays normal and finite); its rounding and report contribution are then known from
 * the bits cut off: changed iff they are not all zero; |error| = |rounded − x| (exact in float32); relative error
 * d / m (d: the error in float32 ulps, m: the mantissa with its hidden bit), computed exactly in float64 only for
 * lanes that pass a conservative float32 filter (d > m · maxRel · (1 − 2^-20), rounded down) and so may raise the
 * maximum. Other lanes' outputs are garbage: their indices go to the list, for the caller to convert one by one.
 * Writes at STATS_AT: i32x4 changed lanes, f32x4 largest |error| per lane, f64 largest relative error (≥ maxRel).
 *
 * `bf16ToF32(n) → nan` and `f16ToF32(n) → nan`: the widenings of widen.ts (NaNs quieted, keeping sign and
 * payload; float16 subnormals normalised), returning the NaN count.
 */
import { i32Const as c, name, section, uleb } from "./wasm-bytes.js";

/** Elements per block (the kernels stage each block through the module's memory, which stays in cache). */
export const SIMD_BLOCK = 16384;
export const IN_AT = 0;
export const OUT_AT = SIMD_BLOCK * 4;
export const LIST_AT = OUT_AT + SIMD_BLOCK * 4;
export const STATS_AT = LIST_AT + SIMD_BLOCK * 4;
export const SIMD_PAGES = Math.ceil((STATS_AT + 64) / 65536);

const I32 = 0x7f;
const F64 = 0x7c;
const V128 = 0x7b;

/** SIMD instructions (0xfd prefix, LEB128 opcode). */
const v = {
  load: (offset: number) => [0xfd, 0x00, 0x00, ...uleb(offset)],
  store: (offset: number) => [0xfd, 0x0b, 0x00, ...uleb(offset)],
  i32x4splat: [0xfd, 0x11], f32x4splat: [0xfd, 0x13], f64x2splat: [0xfd, 0x14],
  i32x4extract: (lane: number) => [0xfd, 0x1b, lane], f64x2extract: (lane: number) => [0xfd, 0x21, lane],
  i32x4eq: [0xfd, 0x37], i32x4ne: [0xfd, 0x38], i32x4ltS: [0xfd, 0x39], i32x4gtS: [0xfd, 0x3b], f32x4gt: [0xfd, 0x44],
  not: [0xfd, 0x4d], and: [0xfd, 0x4e], or: [0xfd, 0x50], bitselect: [0xfd, 0x52], anyTrue: [0xfd, 0x53],
  narrowU: [0xfd, 0x86, 0x01], extendLowU: [0xfd, 0xa9, 0x01], extendHighU: [0xfd, 0xaa, 0x01],
  allTrue: [0xfd, 0xa3, 0x01], bitmask: [0xfd, 0xa4, 0x01],
  shl: [0xfd, 0xab, 0x01], shrU: [0xfd, 0xad, 0x01], add: [0xfd, 0xae, 0x01], sub: [0xfd, 0xb1, 0x01],
  minU: [0xfd, 0xb7, 0x01],
  f32x4abs: [0xfd, 0xe0, 0x01], f32x4sub: [0xfd, 0xe5, 0x01], f32x4mul: [0xfd, 0xe6, 0x01], f32x4pmax: [0xfd, 0xeb, 0x01],
  f64x2div: [0xfd, 0xf3, 0x01], f64x2max: [0xfd, 0xf5, 0x01],
  f32x4convertS: [0xfd, 0xfa, 0x01], f64x2convertLowU: [0xfd, 0xff, 0x01],
  /** i8x16.shuffle(x, x) (x pushed twice): lanes 2, 3 (as i32x4) to lanes 0, 1. */
  highHalf: [0xfd, 0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15],
};
/** Scalar and control instructions. */
const s = {
  block: [0x02, 0x40], loop: [0x03, 0x40], if: [0x04, 0x40], end: [0x0b], br: 0x0c, brIf: 0x0d,
  get: (i: number) => [0x20, i], set: (i: number) => [0x21, i], tee: (i: number) => [0x22, i],
  i32store: (offset: number) => [0x36, 0x02, ...uleb(offset)], f64store: (offset: number) => [0x39, 0x03, ...uleb(offset)],
  eqz: [0x45], ltU: [0x49], add: [0x6a], sub: [0x6b], and: [0x71], or: [0x72], xor: [0x73], shl: [0x74], ctz: [0x68],
  f64mul: [0xa2], f64max: [0xa5], demote: [0xb6], f64const: (x: number) => [0x44, ...f64Bytes(x)],
};


function f64Bytes(x: number): number[] {
  return [...new Uint8Array(new Float64Array([x]).buffer)];
}

/** `i32x4.splat(n)`. */
function splat(n: number): number[] {
  return [...c(n), ...v.i32x4splat];
}

/** Constants of one narrowing kernel. */
interface Narrowing {
  /** |x| bits in (fastLo − 1, fastHi): the fast range. */
  readonly fastLo: number;
  readonly fastHi: number;
  /** Bits cut off: 16 (bfloat16) or 13 (float16). */
  readonly cut: number;
}

// Locals of the narrowing functions: params n (i32), maxRel (f64); then i32s, one f64, v128s.
const N = 0, MAXREL = 1;
const I = 2, P = 3, NS = 4, BM = 5;
const MR = 6;
const X = 7, A = 8, R = 9, LOW = 10, CC = 11, AMAX = 12, THR = 13, RMAX = 14, K_MAG = 15, K_LO = 16, K_HI = 17,
  K_ONE = 18, K_LOWMASK = 19, K_WIDTH = 20, K_MANT = 21, K_HIDDEN = 22, K_ZERO = 23, K_SIGN = 24;
const FAST = [25, 26] as const, D = [27, 28] as const, M = [29, 30] as const, CAND = [31, 32] as const, OUTV = [33, 34] as const;
const NARROW_I32_LOCALS = 4, NARROW_V128_LOCALS = 28;

/** `thr = splat(demote(mr · (1 − 2^-20)))`: the relative-error filter, never above the maximum. */
const setThreshold = [...s.get(MR), ...s.f64const(1 - 2 ** -20), ...s.f64mul, ...s.demote, ...v.f32x4splat, ...s.set(THR)];

/** One vector (4 lanes at byte P + 16k): output lanes in OUTV[k], masks FAST[k], CAND[k], counters updated. */
function narrowLanes(k: 0 | 1, n: Narrowing): number[] {
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
    ...s.get(P), ...v.load(16 * k), ...s.tee(X), ...s.get(K_MAG), ...v.and, ...s.tee(A),
    ...s.get(K_LO), ...v.i32x4gtS, ...s.get(A), ...s.get(K_HI), ...v.i32x4ltS, ...v.and, ...s.set(fast),
    // |error| of fast lanes into the per-lane maxima (rounded leaves it on the stack)
    ...rounded, ...s.get(fast), ...v.and, ...s.get(AMAX), ...v.f32x4pmax, ...s.set(AMAX),
    // changed: fast lanes with non-zero low bits
    ...s.get(CC),
    ...s.get(A), ...s.get(K_LOWMASK), ...v.and, ...s.tee(LOW), ...s.get(K_ZERO), ...v.i32x4ne, ...s.get(fast), ...v.and,
    ...v.sub, ...s.set(CC),
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

function narrowBody(n: Narrowing): number[] {
  const width = 1 << n.cut;
  return [
    ...splat(0x7fffffff), ...s.set(K_MAG), ...splat(n.fastLo - 1), ...s.set(K_LO), ...splat(n.fastHi), ...s.set(K_HI),
    ...splat(1), ...s.set(K_ONE), ...splat(width - 1), ...s.set(K_LOWMASK), ...splat(width), ...s.set(K_WIDTH),
    ...splat(0x7fffff), ...s.set(K_MANT), ...splat(0x800000), ...s.set(K_HIDDEN), ...splat(0x8000), ...s.set(K_SIGN),
    ...s.get(MAXREL), ...s.set(MR), ...s.get(MAXREL), ...v.f64x2splat, ...s.set(RMAX), ...setThreshold,
    ...s.loop,
    ...narrowLanes(0, n), ...narrowLanes(1, n),
    // out[i..i+8) = narrow(out0, out1)
    ...c(OUT_AT), ...s.get(I), ...c(1), ...s.shl, ...s.add, ...s.get(OUTV[0]), ...s.get(OUTV[1]), ...v.narrowU, ...v.store(0),
    // rare: a lane may raise the relative maximum
    ...s.get(CAND[0]), ...s.get(CAND[1]), ...v.or, ...v.anyTrue, ...s.if,
    ...exactRel(0), ...exactRel(1),
    ...s.get(RMAX), ...v.f64x2extract(0), ...s.get(RMAX), ...v.f64x2extract(1), ...s.f64max, ...s.set(MR), ...setThreshold,
    ...s.end,
    // special lanes: their indices to the list
    ...s.get(FAST[0]), ...s.get(FAST[1]), ...v.and, ...v.allTrue, ...s.eqz, ...s.if,
    ...s.get(FAST[0]), ...v.bitmask, ...s.get(FAST[1]), ...v.bitmask, ...c(4), ...s.shl, ...s.or, ...c(0xff), ...s.xor, ...s.set(BM),
    ...s.block, ...s.loop,
    ...s.get(BM), ...s.eqz, s.brIf, 1,
    ...c(LIST_AT), ...s.get(NS), ...c(2), ...s.shl, ...s.add, ...s.get(I), ...s.get(BM), ...s.ctz, ...s.add, ...s.i32store(0),
    ...s.get(NS), ...c(1), ...s.add, ...s.set(NS),
    ...s.get(BM), ...s.get(BM), ...c(1), ...s.sub, ...s.and, ...s.set(BM),
    s.br, 0,
    ...s.end, ...s.end,
    ...s.end,
    ...s.get(P), ...c(32), ...s.add, ...s.set(P),
    ...s.get(I), ...c(8), ...s.add, ...s.tee(I), ...s.get(N), ...s.ltU, s.brIf, 0,
    ...s.end,
    ...c(STATS_AT), ...s.get(CC), ...v.store(0), ...c(STATS_AT), ...s.get(AMAX), ...v.store(16),
    ...c(STATS_AT), ...s.get(MR), ...s.f64store(32),
    ...s.get(NS),
    ...s.end,
  ];
}

// Locals of the widening functions: param n; then i, nan counter (v128), and temporaries.
const W_N = 0, W_I = 1;
const W_H = 2, W_E = 3, W_NANS = 4, W_NM = 5, W_MAG = 6;
const WIDEN_I32_LOCALS = 1, WIDEN_V128_LOCALS = 5;

/** Widen the 4 lanes of W_E (16-bit patterns) to float32 bits, leaving them on the stack; NaNs counted. */
function widenLanes(from: "BF16" | "F16"): number[] {
  if (from === "BF16") {
    return [
      ...s.get(W_E), ...splat(0x7fff), ...v.and, ...splat(0x7f80), ...v.i32x4gtS, ...s.tee(W_NM),
      ...s.get(W_NANS), ...s.get(W_NM), ...v.sub, ...s.set(W_NANS),
      ...splat(0x400000), ...v.and, ...s.get(W_E), ...c(16), ...v.shl, ...v.or,
    ];
  }
  return [
    // sign
    ...s.get(W_E), ...splat(0x8000), ...v.and, ...c(16), ...v.shl,
    // subnormal: mag · 2^-24; otherwise (mag << 13) + (112 << 23), + another 112 << 23 for inf/NaN, quiet bit for NaN
    ...s.get(W_E), ...splat(0x7fff), ...v.and, ...s.tee(W_MAG), ...v.f32x4convertS, ...splat(0x33800000), ...v.f32x4mul,
    ...s.get(W_MAG), ...c(13), ...v.shl, ...splat(112 << 23), ...v.add,
    ...s.get(W_MAG), ...splat(0x7bff), ...v.i32x4gtS, ...splat(112 << 23), ...v.and, ...v.add,
    ...s.get(W_MAG), ...splat(0x7c00), ...v.i32x4gtS, ...s.tee(W_NM), ...splat(0x400000), ...v.and, ...v.or,
    ...s.get(W_MAG), ...splat(0x400), ...v.i32x4ltS, ...v.bitselect,
    ...v.or,
    ...s.get(W_NANS), ...s.get(W_NM), ...v.sub, ...s.set(W_NANS),
  ];
}

function widenBody(from: "BF16" | "F16"): number[] {
  return [
    ...s.loop,
    ...c(IN_AT), ...s.get(W_I), ...c(1), ...s.shl, ...s.add, ...v.load(0), ...s.set(W_H),
    ...c(OUT_AT), ...s.get(W_I), ...c(2), ...s.shl, ...s.add, ...s.get(W_H), ...v.extendLowU, ...s.set(W_E), ...widenLanes(from),
    ...v.store(0),
    ...c(OUT_AT), ...s.get(W_I), ...c(2), ...s.shl, ...s.add, ...s.get(W_H), ...v.extendHighU, ...s.set(W_E), ...widenLanes(from),
    ...v.store(16),
    ...s.get(W_I), ...c(8), ...s.add, ...s.tee(W_I), ...s.get(W_N), ...s.ltU, s.brIf, 0,
    ...s.end,
    ...s.get(W_NANS), ...v.i32x4extract(0), ...s.get(W_NANS), ...v.i32x4extract(1), ...s.add,
    ...s.get(W_NANS), ...v.i32x4extract(2), ...s.add, ...s.get(W_NANS), ...v.i32x4extract(3), ...s.add,
    ...s.end,
  ];
}

function func(locals: number[][], body: number[]): number[] {
  const content = [locals.length, ...locals.flat(), ...body];
  return [...uleb(content.length), ...content];
}

const BF16_NARROWING: Narrowing = { fastLo: 0x00800000, fastHi: 0x7f7f8000, cut: 16 };
const F16_NARROWING: Narrowing = { fastLo: 0x38800000, fastHi: 0x477ff000, cut: 13 };

/** The module's bytes (a few kilobytes, assembled on each call). */
export function castModuleBytes(): Uint8Array {
  const narrowLocals = [[NARROW_I32_LOCALS, I32], [1, F64], [NARROW_V128_LOCALS, V128]];
  const widenLocals = [[WIDEN_I32_LOCALS, I32], [WIDEN_V128_LOCALS, V128]];
  const exports = [
    ["f32ToBf16", 0], ["f32ToF16", 1], ["bf16ToF32", 2], ["f16ToF32", 3],
  ] as const;
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    // types: 0 = (i32, f64) → i32; 1 = (i32) → i32
    ...section(1, [2, 0x60, 2, I32, F64, 1, I32, 0x60, 1, I32, 1, I32]),
    ...section(3, [4, 0, 0, 1, 1]),
    ...section(5, [1, 0x00, SIMD_PAGES]),
    ...section(7, [exports.length + 1, ...exports.flatMap(([n, i]) => [...name(n), 0x00, i]), ...name("mem"), 0x02, 0]),
    ...section(10, [
      4,
      ...func(narrowLocals, narrowBody(BF16_NARROWING)),
      ...func(narrowLocals, narrowBody(F16_NARROWING)),
      ...func(widenLocals, widenBody("BF16")),
      ...func(widenLocals, widenBody("F16")),
    ]),
  ]);
}
