/**
 * The cast kernels alone, JavaScript against WebAssembly SIMD in the same run: elements per second on one core
 * (this thread), loss report included, into an output allocated and touched beforehand. normal(0, 0.02) float32
 * values like LLM weights (and their 16-bit roundings for the widenings and for float16 ↔ bfloat16), 16M elements
 * per call; each figure is the best and the median of ROUNDS calls. The kernels run on one thread, so the figures are per core; on a
 * shared machine, run it a few times and keep the best.
 *
 * Two WebAssembly figures: "copy", input and output in plain buffers, each block copied into the module's memory
 * and its result out (what the export did); "resident", input and output in the module's memory (a shared one, as
 * the export's cast workers have: cast-arena.ts), converted in place (what the export does). Each figure is also
 * given in CPU time (user + system of this process), steadier than wall time on a loaded machine. Each kernel is
 * called once untimed first, so that the timed calls run V8's optimized code (TurboFan), not its baseline (Liftoff).
 *
 * The floor: a plain WebAssembly SIMD copy of the same bytes in the same memory (simd-copy.ts): 4 bytes read and 2
 * written an element for float32 → 16 bits, 2 and 2 for 16 → 16 bits, 2 and 4 for 16 → 32 bits. A kernel below it is bound by its
 * instructions, not by memory.
 *
 *   npm run build && node dist/bench/cast-kernel.js [rounds] [pairs, e.g. F32>BF16,F16>BF16]
 */
import { createCaster } from "../src/dtype/cast.js";
import { kernelFor, loadSimdCasts } from "../src/dtype/kernels/index.js";
import { SCRATCH_BYTES } from "../src/dtype/kernels/simd-layout.js";
import { Tally } from "../src/dtype/tally.js";
import type { FloatDType } from "../src/dtype/table.js";
import { simdCopies } from "./simd-copy.js";

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
type Mode = "js" | "copy" | "resident" | "floor";

/** A shared memory of `bytes` bytes after one instance's scratch (WebAssembly.Memory; no types for it here). */
function sharedMemory(bytes: number): { buffer: SharedArrayBuffer } {
  const pages = Math.ceil((SCRATCH_BYTES + bytes) / 65536);
  const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: true }) => { buffer: SharedArrayBuffer } } }).WebAssembly;
  return new wasm.Memory({ initial: pages, maximum: pages, shared: true });
}

/** [best, median] elements/s of one kernel over ROUNDS calls, in wall time, then in CPU time. */
function rates(from: FloatDType, to: FloatDType, data: Uint8Array, mode: Mode): [number, number, number, number] {
  const n = data.length / SIZE[from];
  const memory = mode === "resident" ? sharedMemory(n * (SIZE[from] + SIZE[to])) : null;
  const casts = mode === "js" ? null : loadSimdCasts(undefined, memory === null ? null : { memory, shared: true, base: 0 });
  if (mode !== "js" && casts === null) throw new Error("WebAssembly SIMD is not available here");
  const bestMedian = (xs: number[]): [number, number] => {
    xs.sort((a, b) => a - b);
    return [n / ((xs[0] ?? NaN) / 1000), n / ((xs[Math.floor(xs.length / 2)] ?? NaN) / 1000)];
  };
  if (mode === "floor") {
    const memory = sharedMemory(n * (SIZE[from] + SIZE[to]));
    const copy = simdCopies(memory)[SIZE[from] > SIZE[to] ? "narrow" : SIZE[from] < SIZE[to] ? "widen" : "copy16"];
    const src = SCRATCH_BYTES, dst = src + data.byteLength, end = dst + n * SIZE[to];
    new Uint8Array(memory.buffer, src, data.byteLength).set(data);
    const times: number[] = [];
    const cpu: number[] = [];
    for (let r = 0; r <= ROUNDS; r++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      copy(src, dst, end);
      const wall = performance.now() - t0;
      const c = process.cpuUsage(c0);
      if (r > 0) times.push(wall), cpu.push((c.user + c.system) / 1000);
    }
    return [...bestMedian(times), ...bestMedian(cpu)];
  }
  let input: Uint8Array = data;
  let out: Uint8Array = new Uint8Array(n * SIZE[to]);
  if (memory !== null) {
    input = new Uint8Array(memory.buffer, SCRATCH_BYTES, data.byteLength);
    input.set(data);
    out = new Uint8Array(memory.buffer, SCRATCH_BYTES + data.byteLength, n * SIZE[to]);
  }
  out.fill(1);
  const times: number[] = [];
  const cpu: number[] = [];
  // round 0 untimed: the warm-up
  for (let r = 0; r <= ROUNDS; r++) {
    const kernel = kernelFor(from, to, casts);
    const tally = new Tally(from, to);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    kernel.convert(input, out, tally);
    kernel.flush(tally);
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (r > 0) times.push(wall), cpu.push((c.user + c.system) / 1000);
  }
  return [...bestMedian(times), ...bestMedian(cpu)];
}

{
  const f32 = new Uint8Array(weights(ELEMENTS).buffer);
  const inputs: Partial<Record<FloatDType, Uint8Array>> = {
    F32: f32, BF16: createCaster("F32", "BF16").cast(f32), F16: createCaster("F32", "F16").cast(f32),
  };
  const only = process.argv[3]?.split(",");
  const pairs = ([
    ["F32", "BF16"], ["F32", "F16"], ["BF16", "F32"], ["F16", "F32"], ["F16", "BF16"], ["BF16", "F16"],
  ] as Array<[FloatDType, FloatDType]>).filter(([from, to]) => only === undefined || only.includes(`${from}>${to}`));
  const m = (x: number): string => (x / 1e6).toFixed(0).padStart(6);
  console.log(`${ELEMENTS} elements a call, ${ROUNDS} calls; M elements/s on one core, best / median, wall time (CPU time)`);
  console.log("WASM copy: blocks copied through the module's memory (the export before); WASM resident: in place in it (the export now)");
  console.log("floor: a plain WASM SIMD copy of the same bytes, resident (the memory's bound for the resident kernel)");
  console.log("pair            JS best  median      WASM copy best  median         WASM resident best  median      resident/copy (best)   floor best  median   resident/floor");
  for (const [from, to] of pairs) {
    const input = inputs[from] as Uint8Array;
    const [jsBest, jsMedian, jsCpuBest, jsCpuMedian] = rates(from, to, input, "js");
    const [cBest, cMedian, cCpuBest, cCpuMedian] = rates(from, to, input, "copy");
    const [rBest, rMedian, rCpuBest, rCpuMedian] = rates(from, to, input, "resident");
    const [fBest, fMedian, fCpuBest, fCpuMedian] = rates(from, to, input, "floor");
    console.log(
      `${`${from} → ${to}`.padEnd(14)} ${m(jsBest)}  ${m(jsMedian)}     ${m(cBest)}  ${m(cMedian)}          ${m(rBest)}  ${m(rMedian)}      ${(rBest / cBest).toFixed(2)}×                ${m(fBest)}  ${m(fMedian)}   ${(rBest / fBest).toFixed(2)}×`,
    );
    console.log(
      `${"  (CPU time)".padEnd(14)} ${m(jsCpuBest)}  ${m(jsCpuMedian)}     ${m(cCpuBest)}  ${m(cCpuMedian)}          ${m(rCpuBest)}  ${m(rCpuMedian)}      ${(rCpuBest / cCpuBest).toFixed(2)}×                ${m(fCpuBest)}  ${m(fCpuMedian)}   ${(rCpuBest / fCpuBest).toFixed(2)}×`,
    );
  }
}
