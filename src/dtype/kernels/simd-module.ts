/**
 * The WebAssembly SIMD module of the cast kernels (simd.ts), assembled here byte by byte: no build step, no
 * dependency, nothing downloaded. Its memory (exported as `mem`, laid out as simd-layout.ts says) holds one
 * block; or it imports its memory (`env.mem`, shared between threads or not) and keeps its scratch at a base in it.
 * Each function reads its input at the mutable global `inAt` and writes its output at `outAt` (exported; the
 * scratch block unless the caller points them elsewhere in the memory). Functions (n: elements, a positive multiple of 16 for the narrowings, of 8 for the widenings, at most
 * SIMD_BLOCK):
 *
 * `f32ToBf16(n, maxRel) → specials` and `f32ToF16(n, maxRel) → specials`: the fast paths of f32-to-bf16.ts and
 * f32-to-f16.ts with the loss report in the same pass (simd-narrow.ts).
 *
 * `bf16ToF32(n) → nan` and `f16ToF32(n) → nan`: the widenings of widen.ts (NaNs quieted, keeping sign and
 * payload; float16 subnormals normalised), returning the NaN count.
 *
 * `f16ToBf16(n) → specials` and `bf16ToF16(n) → specials` (n: a positive multiple of 16): the casts of
 * half-to-half.ts with the loss report in the same pass (simd-half.ts).
 */
import { bf16ToF16Body, f16ToBf16Body, HALF_LOCALS } from "./simd-half.js";
import { IN_PTR, OUT_PTR, SCRATCH_BYTES, scratchAt, SIMD_PAGES } from "./simd-layout.js";
import { BF16_NARROWING, carefulBody, F16_NARROWING, NARROW_LOCALS, narrowBody } from "./simd-narrow.js";
import { F64, I32, s, splat, V128, v } from "./simd-ops.js";
import { i32Const as c, name, section, uleb } from "./wasm-bytes.js";

export { IN_AT, LIST_AT, OUT_AT, SCRATCH_BYTES, scratchAt, SIMD_BLOCK, SIMD_PAGES, STATS_AT } from "./simd-layout.js";

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
    ...IN_PTR, ...s.get(W_I), ...c(1), ...s.shl, ...s.add, ...v.load(0), ...s.set(W_H),
    ...OUT_PTR, ...s.get(W_I), ...c(2), ...s.shl, ...s.add, ...s.get(W_H), ...v.extendLowU, ...s.set(W_E), ...widenLanes(from),
    ...v.store(0),
    ...OUT_PTR, ...s.get(W_I), ...c(2), ...s.shl, ...s.add, ...s.get(W_H), ...v.extendHighU, ...s.set(W_E), ...widenLanes(from),
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

/** Where the module's memory comes from. */
export interface CastModuleOptions {
  /**
   * "own" (default): a memory of the module's own, of SIMD_PAGES pages. "imported": `env.mem`, a plain memory;
   * "shared": `env.mem`, a shared one (its buffer a SharedArrayBuffer other threads see).
   */
  readonly memory?: "own" | "imported" | "shared";
  /** Where this instance's scratch starts in the memory (a multiple of 16; default 0). */
  readonly base?: number;
}

/** Largest memory a wasm32 module addresses, in pages (4 GiB). */
const MAX_PAGES = 65536;

/** The module's bytes (a few kilobytes, assembled on each call). */
export function castModuleBytes(options: CastModuleOptions = {}): Uint8Array {
  const memory = options.memory ?? "own";
  const sc = scratchAt(options.base ?? 0);
  const widenLocals = [[WIDEN_I32_LOCALS, I32], [WIDEN_V128_LOCALS, V128]];
  const exports = [
    ["f32ToBf16", 0], ["f32ToF16", 1], ["bf16ToF32", 2], ["f16ToF32", 3], ["f16ToBf16", 6], ["bf16ToF16", 7],
  ] as const;
  const minPages = Math.ceil(((options.base ?? 0) + SCRATCH_BYTES) / 65536);
  const limits = memory === "shared" ? [0x03, ...uleb(minPages), ...uleb(MAX_PAGES)] : [0x00, ...uleb(minPages)];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    // types: 0 = (i32, f64) → i32; 1 = (i32) → i32
    ...section(1, [2, 0x60, 2, I32, F64, 1, I32, 0x60, 1, I32, 1, I32]),
    ...(memory === "own" ? [] : section(2, [1, ...name("env"), ...name("mem"), 0x02, ...limits])),
    ...section(3, [8, 0, 0, 1, 1, 0, 0, 1, 1]),
    ...(memory === "own" ? section(5, [1, 0x00, SIMD_PAGES]) : []),
    // globals: 0 = inAt, 1 = outAt (mutable i32), the scratch block at first
    ...section(6, [2, I32, 0x01, ...c(sc.in), 0x0b, I32, 0x01, ...c(sc.out), 0x0b]),
    ...section(7, [
      exports.length + 3, ...exports.flatMap(([n, i]) => [...name(n), 0x00, i]), ...name("mem"), 0x02, 0,
      ...name("inAt"), 0x03, 0, ...name("outAt"), 0x03, 1,
    ]),
    ...section(10, [
      8,
      ...func(NARROW_LOCALS, narrowBody(BF16_NARROWING, 4, sc)),
      ...func(NARROW_LOCALS, narrowBody(F16_NARROWING, 5, sc)),
      ...func(widenLocals, widenBody("BF16")),
      ...func(widenLocals, widenBody("F16")),
      ...func(NARROW_LOCALS, carefulBody(BF16_NARROWING, sc)),
      ...func(NARROW_LOCALS, carefulBody(F16_NARROWING, sc)),
      ...func(HALF_LOCALS, f16ToBf16Body(sc)),
      ...func(HALF_LOCALS, bf16ToF16Body(sc)),
    ]),
  ]);
}
