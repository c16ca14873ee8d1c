/**
 * Throughput of the hot cast paths (elements per second, report included), 16M elements each, best of five:
 * through createCaster (fresh output), castInto (a reused output) and the kernel alone.
 *
 *   npm run build && node dist/bench/casts.js
 */
import { createCaster } from "../src/dtype/cast.js";
import { kernelFor } from "../src/dtype/kernels/index.js";
import { Tally } from "../src/dtype/tally.js";
import type { FloatDType } from "../src/dtype/table.js";

const ELEMENTS = 16 * 1024 * 1024;
const ROUNDS = 5;

/** normal(0, 0.02) float32 values, like LLM weights, from a fixed seed. */
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

const SIZE: Record<FloatDType, number> = { F16: 2, BF16: 2, F32: 4, F64: 8 };

/** Elements/s through createCaster (fresh output bytes each time, as callers get them). */
function casterRate(from: FloatDType, to: FloatDType, input: Uint8Array): number {
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const caster = createCaster(from, to);
    const t0 = performance.now();
    caster.cast(input);
    caster.report();
    best = Math.min(best, performance.now() - t0);
  }
  return input.length / SIZE[from] / (best / 1000);
}

/** Elements/s of the kernel alone, into an output allocated (and touched) beforehand. */
function kernelRate(from: FloatDType, to: FloatDType, input: Uint8Array): number {
  const n = input.length / SIZE[from];
  const out = new Uint8Array(n * SIZE[to]);
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const kernel = kernelFor(from, to);
    const tally = new Tally(from, to);
    const t0 = performance.now();
    kernel.convert(input, out, tally);
    kernel.flush(tally);
    best = Math.min(best, performance.now() - t0);
  }
  return n / (best / 1000);
}

/** Elements/s through castInto, the output buffer reused (as the export's conversion threads run). */
function castIntoRate(from: FloatDType, to: FloatDType, input: Uint8Array): number {
  const out = new Uint8Array((input.length / SIZE[from]) * SIZE[to]);
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const caster = createCaster(from, to);
    const t0 = performance.now();
    caster.castInto(input, out);
    caster.report();
    best = Math.min(best, performance.now() - t0);
  }
  return input.length / SIZE[from] / (best / 1000);
}

{
  const f32 = new Uint8Array(weights(ELEMENTS).buffer);
  const bf16 = createCaster("F32", "BF16").cast(f32);
  const f16 = createCaster("F32", "F16").cast(f32);
  const f64 = createCaster("F32", "F64").cast(f32);
  const rows: Array<[FloatDType, FloatDType, Uint8Array]> = [
    ["F32", "BF16", f32], ["BF16", "F32", bf16], ["F32", "F16", f32], ["F16", "F32", f16],
    ["BF16", "F16", bf16], ["F16", "BF16", f16], ["F64", "BF16", f64], ["F64", "F32", f64],
  ];
  const m = (x: number): string => (x / 1e6).toFixed(0).padStart(5);
  console.log("pair          caster   castInto  kernel  (M elements/s)");
  for (const [from, to, input] of rows) {
    console.log(`${`${from} → ${to}`.padEnd(12)} ${m(casterRate(from, to, input))}    ${m(castIntoRate(from, to, input))}    ${m(kernelRate(from, to, input))}`);
  }
}
