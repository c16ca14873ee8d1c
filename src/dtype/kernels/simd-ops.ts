/**
 * The WebAssembly instructions the cast module (simd-module.ts, simd-narrow.ts) is assembled from, as bytes:
 * SIMD instructions (0xfd prefix, LEB128 opcode) in {@link v}, scalar and control instructions in {@link s}.
 */
import { i32Const, uleb } from "./wasm-bytes.js";

export const I32 = 0x7f;
export const F64 = 0x7c;
export const V128 = 0x7b;

/** SIMD instructions. */
export const v = {
  load: (offset: number) => [0xfd, 0x00, 0x00, ...uleb(offset)],
  store: (offset: number) => [0xfd, 0x0b, 0x00, ...uleb(offset)],
  i32x4splat: [0xfd, 0x11], f32x4splat: [0xfd, 0x13], f64x2splat: [0xfd, 0x14],
  i32x4extract: (lane: number) => [0xfd, 0x1b, lane], f64x2extract: (lane: number) => [0xfd, 0x21, lane],
  i32x4eq: [0xfd, 0x37], i32x4ne: [0xfd, 0x38], i32x4ltS: [0xfd, 0x39], i32x4gtS: [0xfd, 0x3b], f32x4gt: [0xfd, 0x44],
  not: [0xfd, 0x4d], and: [0xfd, 0x4e], or: [0xfd, 0x50], bitselect: [0xfd, 0x52], anyTrue: [0xfd, 0x53],
  narrowU: [0xfd, 0x86, 0x01], extendLowU: [0xfd, 0xa9, 0x01], extendHighU: [0xfd, 0xaa, 0x01],
  allTrue: [0xfd, 0xa3, 0x01], bitmask: [0xfd, 0xa4, 0x01],
  shl: [0xfd, 0xab, 0x01], shrU: [0xfd, 0xad, 0x01], add: [0xfd, 0xae, 0x01], sub: [0xfd, 0xb1, 0x01],
  minU: [0xfd, 0xb7, 0x01], maxS: [0xfd, 0xb8, 0x01],
  f32x4abs: [0xfd, 0xe0, 0x01], f32x4sub: [0xfd, 0xe5, 0x01], f32x4mul: [0xfd, 0xe6, 0x01], f32x4pmax: [0xfd, 0xeb, 0x01],
  f64x2div: [0xfd, 0xf3, 0x01], f64x2max: [0xfd, 0xf5, 0x01],
  f32x4convertS: [0xfd, 0xfa, 0x01], f64x2convertLowU: [0xfd, 0xff, 0x01],
  i16x8splat: [0xfd, 0x10], i16x8eq: [0xfd, 0x2d], i16x8gtS: [0xfd, 0x31], xor: [0xfd, 0x51], f32x4pmin: [0xfd, 0xea, 0x01],
  i16x8neg: [0xfd, 0x81, 0x01], i16x8sub: [0xfd, 0x91, 0x01], i16x8add: [0xfd, 0x8e, 0x01],
  i16x8minU: [0xfd, 0x97, 0x01], i16x8maxS: [0xfd, 0x98, 0x01], i16x8maxU: [0xfd, 0x99, 0x01],
  extaddPairwiseS: [0xfd, 0x7e],
  andnot: [0xfd, 0x4f], i16x8ltS: [0xfd, 0x2f], i16x8bitmask: [0xfd, 0x84, 0x01], i16x8shl: [0xfd, 0x8b, 0x01],
  i16x8shrU: [0xfd, 0x8d, 0x01], i16x8mul: [0xfd, 0x95, 0x01], i16x8subSatU: [0xfd, 0x93, 0x01], swizzle: [0xfd, 0x0e],
  /** `v128.const` of 16 bytes. */
  const: (bytes: readonly number[]) => [0xfd, 0x0c, ...Array.from({ length: 16 }, (_, i) => bytes[i] ?? 0)],
  /** i8x16.shuffle(zero, y): 16-bit lanes 0..3 (lo16) or 4..7 (hi16) of y as the high halves of 4 i32 lanes. */
  interleaveLo16: [0xfd, 0x0d, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23],
  interleaveHi16: [0xfd, 0x0d, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31],
  /** i8x16.shuffle(x, x) (x pushed twice): lanes 2, 3 (as i32x4) to lanes 0, 1. */
  highHalf: [0xfd, 0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15],
  /** i8x16.shuffle(x, y): the high 16 bits of each i32 lane of x, then of y (8 × 16 bits). */
  high16: [0xfd, 0x0d, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31],
};

/** Scalar and control instructions. */
export const s = {
  block: [0x02, 0x40], loop: [0x03, 0x40], if: [0x04, 0x40], else: [0x05], end: [0x0b], br: 0x0c, brIf: 0x0d,
  get: (i: number) => [0x20, i], set: (i: number) => [0x21, i], tee: (i: number) => [0x22, i],
  i32load: (offset: number) => [0x28, 0x02, ...uleb(offset)], f64load: (offset: number) => [0x2b, 0x03, ...uleb(offset)],
  call: (f: number) => [0x10, ...uleb(f)], drop: [0x1a], return: [0x0f],
  i32store: (offset: number) => [0x36, 0x02, ...uleb(offset)], f64store: (offset: number) => [0x39, 0x03, ...uleb(offset)],
  eqz: [0x45], ltU: [0x49], gtS: [0x4a], ltS: [0x48], select: [0x1b], add: [0x6a], sub: [0x6b], and: [0x71], or: [0x72], xor: [0x73], shl: [0x74], shrU: [0x76], ctz: [0x68],
  f64mul: [0xa2], f64min: [0xa4], f64max: [0xa5], f64floor: [0x9c], i32truncSatF64S: [0xfc, 0x02], demote: [0xb6],
  f64const: (x: number) => [0x44, ...f64Bytes(x)],
};

function f64Bytes(x: number): number[] {
  return [...new Uint8Array(new Float64Array([x]).buffer)];
}

/** `i32x4.splat(n)`. */
export function splat(n: number): number[] {
  return [...i32Const(n), ...v.i32x4splat];
}

/**
 * Append the lanes whose bits are set in i32 local `bm` to the i32 list at `listAt`: for each set bit, lowest first,
 * `list[ns++] = index + ctz(bm)` (`index`: instructions leaving the first lane's element index on the stack);
 * `bm` ends at 0.
 */
export function listSetLanes(listAt: number, ns: number, bm: number, index: number[]): number[] {
  return [
    ...s.block, ...s.loop,
    ...s.get(bm), ...s.eqz, s.brIf, 1,
    ...i32Const(listAt), ...s.get(ns), ...i32Const(2), ...s.shl, ...s.add, ...index, ...s.get(bm), ...s.ctz, ...s.add,
    ...s.i32store(0),
    ...s.get(ns), ...i32Const(1), ...s.add, ...s.set(ns),
    ...s.get(bm), ...s.get(bm), ...i32Const(1), ...s.sub, ...s.and, ...s.set(bm),
    s.br, 0,
    ...s.end, ...s.end,
  ];
}
