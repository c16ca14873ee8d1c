/**
 * The cast kernels alone, JavaScript against WebAssembly SIMD in the same run: elements per second on one core
 * (this thread), loss report included, into an output allocated and touched beforehand. normal(0, 0.02) float32
 * values like LLM weights (and their 16-bit roundings for the widenings and for float16 ↔ bfloat16), 16M elements
 * per call; each figure is the best and the median of ROUNDS calls. The kernels run on one thread, so the figures are per core; on a
 * shared machine, run it a few times and keep the best.
 *
 *   npm run build && node dist/bench/cast-kernel.js [rounds]
 */
import { createCaster } from "../src/dtype/cast.js";
import { kernelFor, loadSimdCasts } from "../src/dtype/kernels/index.js";
import { Tally } from "../src/dtype/tally.js";
import type { FloatDType } from "../src/dtype/table.js";

const ELEMENTS = 16 * 1024 * 1024;
const ROUNDS = Number(process.argv[2] ?? 7);
const SIZE: Record<FloatDType, number> = { F16: 2, BF16: 2, F32: 4, F64: 8 };

/** normal(0, 0.02) float32 values from a fixed seed. */
function weights(n: number): Float32Array {
  const out = new Float32Array(n);
  let s = 12345;
  const uniform = (): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  for (let i = 0; i < n; i++) out[i] = 0.02 * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return out;
}

/** [best, median] elements/s of one kernel over ROUNDS calls. */
function rates(from: FloatDType, to: FloatDType, input: Uint8Array, simd: boolean): [number, number] {
  const n = input.length / SIZE[from];
  const out = new Uint8Array(n * SIZE[to]).fill(1);
  const casts = simd ? loadSimdCasts() : null;
  if (simd && casts === null) throw new Error("WebAssembly SIMD is not available here");
  const times: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const kernel = kernelFor(from, to, casts);
    const tally = new Tally(from, to);
    const t0 = performance.now();
    kernel.convert(input, out, tally);
    kernel.flush(tally);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)] ?? NaN;
  return [n / ((times[0] ?? NaN) / 1000), n / (median / 1000)];
}

{
  const f32 = new Uint8Array(weights(ELEMENTS).buffer);
  const inputs: Partial<Record<FloatDType, Uint8Array>> = {
    F32: f32, BF16: createCaster("F32", "BF16").cast(f32), F16: createCaster("F32", "F16").cast(f32),
  };
  const pairs: Array<[FloatDType, FloatDType]> = [
    ["F32", "BF16"], ["F32", "F16"], ["BF16", "F32"], ["F16", "F32"], ["F16", "BF16"], ["BF16", "F16"],
  ];
  const m = (x: number): string => (x / 1e6).toFixed(0).padStart(6);
  console.log(`${ELEMENTS} elements a call, ${ROUNDS} calls; M elements/s on one core, best / median`);
  console.log("pair            JS best  median   WASM best  median   speed-up (best)");
  for (const [from, to] of pairs) {
    const input = inputs[from] as Uint8Array;
    const [jsBest, jsMedian] = rates(from, to, input, false);
    const [wBest, wMedian] = rates(from, to, input, true);
    console.log(`${`${from} → ${to}`.padEnd(14)} ${m(jsBest)}  ${m(jsMedian)}     ${m(wBest)}  ${m(wMedian)}   ${(wBest / jsBest).toFixed(2)}×`);
  }
}
