/**
 * float16 ↔ bfloat16 in WebAssembly SIMD (module functions: simd-half.ts), the loss report in the same pass: same
 * bits and same report as half-to-half.ts, which remains the fallback. Each block of up to {@link SIMD_BLOCK}
 * elements is converted where it lies when source and target lie in the module's memory (the export's resident
 * chunks, cast-arena.ts), else copied through the instance's scratch block (simd.ts); the elements the module lists
 * (float16 subnormals and NaNs; bfloat16 values below float16's normal range and NaNs) and a last partial step
 * (fewer than 16 elements) are converted here, one by one, by half-to-half.ts's table and reported through
 * {@link Tally.observe}, as that kernel reports each of its patterns. Every report field is a count or a maximum, so
 * the order in which elements are reported does not matter.
 */
import { bf16ToF16Table, bf16ValueTable, f16ToBf16Table, f16ValueTable } from "../tables.js";
import type { Tally } from "../tally.js";
import { type Kernel, stateless, u16 } from "./kernel.js";
import { absErrorOfKey } from "./simd-half.js";
import { SIMD_BLOCK } from "./simd-layout.js";
import { place, type SimdCasts } from "./simd.js";

/** One direction: the module function, its block report, and the scalar conversion of listed elements. */
interface Half {
  run(simd: SimdCasts, n: number): number;
  report(simd: SimdCasts, t: Tally): void;
  table: Uint16Array;
  sourceValues: Float32Array;
  targetValues: Float32Array;
}

function convert(simd: SimdCasts, how: Half, src: Uint8Array, dst: Uint8Array, t: Tally): void {
  const n = src.byteLength >>> 1;
  const body = n & ~15;
  const input = u16(src);
  const out = u16(dst);
  const { bytes, list, scratch } = simd;
  const { table, sourceValues, targetValues } = how;
  const one = (i: number): void => {
    const h = input[i] ?? 0;
    const r = table[h] ?? 0;
    out[i] = r;
    t.observe(sourceValues[h] ?? NaN, targetValues[r] ?? NaN);
  };
  for (let at = 0; at < body; at += SIMD_BLOCK) {
    const len = Math.min(SIMD_BLOCK, body - at);
    const copyOut = place(simd, src, dst, at, len, 2, 2);
    const specials = how.run(simd, len);
    if (copyOut) dst.set(bytes.subarray(scratch.out, scratch.out + len * 2), at * 2);
    how.report(simd, t);
    for (let k = 0; k < specials; k++) one(at + (list[k] ?? 0));
  }
  for (let i = body; i < n; i++) one(i);
}

/** float16 → bfloat16's block report: changed, and the largest |error| and d / M over the 8 lanes. */
function reportF16ToBf16(simd: SimdCasts, t: Tally): void {
  const { halfStats, changed } = simd;
  t.changed += changed[0] ?? 0;
  let key = 0;
  let rel = 0;
  for (let lane = 0; lane < 8; lane++) {
    key = Math.max(key, halfStats[lane] ?? 0);
    const d = halfStats[8 + lane] ?? 0;
    if (d !== 0) rel = Math.max(rel, d / (halfStats[16 + lane] ?? 1));
  }
  t.offer(absErrorOfKey(key), rel);
}

/** bfloat16 → float16's block report: finite values made infinite (each also changed). */
function reportBf16ToF16(simd: SimdCasts, t: Tally): void {
  const infinite = simd.changed[0] ?? 0;
  t.changed += infinite;
  t.toInfinity += infinite;
}

const halves: Partial<Record<"F16" | "BF16", Half>> = {};

/** Each direction's constants, built on first use (the tables are 64K entries each). */
function half(from: "F16" | "BF16"): Half {
  return (halves[from] ??= from === "F16"
    ? {
      run: (s, n) => s.f16ToBf16(n), report: reportF16ToBf16,
      table: f16ToBf16Table(), sourceValues: f16ValueTable(), targetValues: bf16ValueTable(),
    }
    : {
      run: (s, n) => s.bf16ToF16(n), report: reportBf16ToF16,
      table: bf16ToF16Table(), sourceValues: bf16ValueTable(), targetValues: f16ValueTable(),
    });
}

/** float16 → bfloat16 in WebAssembly SIMD (same bits and report as half-to-half.ts). */
export function simdF16ToBf16Kernel(simd: SimdCasts): Kernel {
  const how = half("F16");
  return stateless((src, dst, t) => convert(simd, how, src, dst, t));
}

/** bfloat16 → float16 in WebAssembly SIMD (same bits and report as half-to-half.ts). */
export function simdBf16ToF16Kernel(simd: SimdCasts): Kernel {
  const how = half("BF16");
  return stateless((src, dst, t) => convert(simd, how, src, dst, t));
}
