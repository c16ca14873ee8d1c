/**
 * Inputs for the SIMD kernel tests (simd.test.ts), generated at test time from fixed seeds: every float32 class
 * the kernels tell apart, at every lane position, among random bit patterns and weight-like values.
 */
import { Rng } from "../fuzz/mutate.js";

/** Mantissas that sit on the kernels' edges: zero, ones, ties and their neighbours for 13 and 16 cut bits. */
const EDGE_MANTISSAS = [
  0, 1, 2, 0xfff, 0x1000, 0x1001, 0x1fff, 0x2000, 0x3000, 0x7fff, 0x8000, 0x8001, 0xffff, 0x10000, 0x18000,
  0x7fe000, 0x7fefff, 0x7ff000, 0x7f7fff, 0x7f8000, 0x7fffff,
];

/** float32 bit patterns of every class: each exponent (both signs) with each edge mantissa, plus NaN payloads. */
export function f32EdgeCases(): number[] {
  const out: number[] = [];
  for (const sign of [0, 0x80000000]) {
    for (let e = 0; e < 256; e++) for (const m of EDGE_MANTISSAS) out.push((sign | (e << 23) | m) >>> 0);
    // float16 and bfloat16 overflow thresholds and the signalling/quiet NaNs, explicitly
    for (const b of [0x477fefff, 0x477ff000, 0x7f7f7fff, 0x7f7f8000, 0x7f800001, 0x7fa00000, 0x7fc00000, 0x7fffffff]) out.push((sign | b) >>> 0);
  }
  return out;
}

/**
 * `n` float32 bit patterns: the edge cases scattered at random positions (so each meets every lane and block
 * position), among random 32-bit patterns and normal(0, σ) values with σ from 1e-5 to 3e4.
 */
export function f32SweepInput(n: number, seed: number): Uint32Array {
  const rng = new Rng(seed);
  const out = new Uint32Array(n);
  const f = new Float32Array(out.buffer);
  const edges = f32EdgeCases();
  const sigmas = [0.02, 1, 1e-5, 3e4];
  for (let i = 0; i < n; i++) {
    const kind = rng.int(100);
    if (kind < 45) {
      out[i] = rng.u32();
    } else if (kind < 95) {
      const u = (rng.u32() + 1) / 4294967297;
      const v = (rng.u32() + 1) / 4294967297;
      f[i] = rng.pick(sigmas) * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    } else {
      out[i] = rng.pick(edges);
    }
  }
  // every edge case at least once, in order, at the start
  out.set(edges.slice(0, n));
  return out;
}

/** All 65,536 16-bit patterns, in order. */
export function all16(): Uint16Array {
  const out = new Uint16Array(0x10000);
  for (let h = 0; h < out.length; h++) out[h] = h;
  return out;
}
