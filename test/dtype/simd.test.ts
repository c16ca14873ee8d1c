/**
 * The WebAssembly SIMD cast kernels against the JavaScript kernels they replace: same bytes and same report, on
 * an exhaustive sweep of the 16-bit sources, on every float32 class plus millions of seeded random patterns, on
 * the PyTorch fixtures, and chunked so that blocks, 8-element steps and the JS tail all meet; and the fallback
 * where WebAssembly is unavailable.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createCaster } from "../../src/dtype/cast.js";
import { type Kernel, kernelFor, loadSimdCasts } from "../../src/dtype/kernels/index.js";
import { LIST_AT, SCRATCH_BYTES, SIMD_BLOCK } from "../../src/dtype/kernels/simd-module.js";
import { Tally } from "../../src/dtype/tally.js";
import type { CastReport } from "../../src/dtype/report.js";
import type { FloatDType } from "../../src/dtype/table.js";
import { all16, f32SweepInput } from "./simd-inputs.js";

const SIZE: Record<FloatDType, number> = { F16: 2, BF16: 2, F32: 4, F64: 8 };
const PAIRS: Array<[FloatDType, FloatDType]> = [["F32", "BF16"], ["F32", "F16"], ["BF16", "F32"], ["F16", "F32"]];

const simd = loadSimdCasts();

/** Convert `input` in chunks of `chunk` elements with one kernel (SIMD or JS), returning the bytes and report. */
function convert(from: FloatDType, to: FloatDType, input: Uint8Array, chunk: number, useSimd: boolean): { out: Uint8Array; report: CastReport } {
  const kernel = kernelFor(from, to, useSimd ? simd : null);
  const tally = new Tally(from, to);
  const n = input.byteLength / SIZE[from];
  const out = new Uint8Array(n * SIZE[to]);
  for (let at = 0; at < n; at += chunk) {
    const end = Math.min(n, at + chunk);
    kernel.convert(input.subarray(at * SIZE[from], end * SIZE[from]), out.subarray(at * SIZE[to], end * SIZE[to]), tally);
    tally.elements += end - at;
  }
  kernel.flush(tally);
  return { out, report: tally.report() };
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function assertSame(from: FloatDType, to: FloatDType, input: Uint8Array, chunk: number): void {
  const js = convert(from, to, input, chunk, false);
  const wasm = convert(from, to, input, chunk, true);
  const at = firstDifference(js.out, wasm.out);
  assert.equal(at, -1, `${from} → ${to}, chunks of ${chunk}: byte ${at} differs (element ${Math.floor(at / SIZE[to])})`);
  assert.deepEqual(wasm.report, js.report, `${from} → ${to}, chunks of ${chunk}: reports differ`);
}

test("WebAssembly SIMD is available here, so the comparisons below run the SIMD kernels", () => {
  assert.notEqual(simd, null);
});

test("BF16 → F32 and F16 → F32: all 65,536 patterns give the JS kernel's bits and NaN count", () => {
  const input = new Uint8Array(all16().buffer);
  for (const from of ["BF16", "F16"] as const) {
    for (const chunk of [0x10000, SIMD_BLOCK + 3, 1000, 7]) assertSame(from, "F32", input, chunk);
    // and the NaN count is that of the format: 2 · (2^m − 1) patterns
    const { report } = convert(from, "F32", input, 0x10000, true);
    assert.equal(report.nan, from === "BF16" ? 2 * 127 : 2 * 1023);
  }
});

test("F32 → BF16 and F32 → F16: every class and 4M seeded random patterns give the JS kernel's bits and report", () => {
  const bits = f32SweepInput(4 * 1024 * 1024, 13);
  const input = new Uint8Array(bits.buffer);
  for (const to of ["BF16", "F16"] as const) {
    assertSame("F32", to, input, bits.length);
    assertSame("F32", to, input, SIMD_BLOCK * 3 + 5);
  }
});

test("F32 → 16-bit: chunk sizes around the 8-element step and the block give the same bits and report", () => {
  const bits = f32SweepInput(3 * SIMD_BLOCK + 77, 29);
  const input = new Uint8Array(bits.buffer);
  for (const to of ["BF16", "F16"] as const) {
    for (const chunk of [1, 7, 8, 9, 15, 16, 17, 1000, SIMD_BLOCK - 1, SIMD_BLOCK, SIMD_BLOCK + 1]) assertSame("F32", to, input, chunk);
  }
});

test("F32 → 16-bit: weight-like data without specials keeps the maxima of the JS kernel exactly", () => {
  // Only the fast path (normal(0, 0.02) values): the relative-error filter is the only thing deciding the maxima.
  const n = 1 << 20;
  const values = new Float32Array(n);
  const draw = f32SweepInput(2 * n, 5);
  for (let i = 0; i < n; i++) {
    const u = ((draw[2 * i] ?? 0) + 1) / 4294967297;
    const v = ((draw[2 * i + 1] ?? 0) + 1) / 4294967297;
    values[i] = 0.02 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v) + 0.1;
  }
  const input = new Uint8Array(values.buffer);
  for (const to of ["BF16", "F16"] as const) {
    assertSame("F32", to, input, n);
    const { report } = convert("F32", to, input, n, true);
    assert.ok(report.maxRelError > 0 && report.maxAbsError > 0 && report.changed > n / 2, JSON.stringify(report));
  }
});

test("the PyTorch fixtures' inputs give the same bits and report through the SIMD kernels", () => {
  const fixture = (name: string): Uint8Array =>
    new Uint8Array(readFileSync(fileURLToPath(new URL(`../../../test/fixtures/casts/${name}`, import.meta.url))));
  const inputs: Record<string, Uint8Array> = {
    F32: fixture("in_f32.bin"), BF16: fixture("in_bf16_all.bin"), F16: fixture("in_f16_all.bin"),
  };
  for (const [from, to] of PAIRS) {
    const input = inputs[from] as Uint8Array;
    assert.ok(input.byteLength > 1000);
    for (const chunk of [input.byteLength / SIZE[from], 1003]) assertSame(from, to, input, chunk);
  }
});

test("loadSimdCasts returns null without WebAssembly or when the module is refused", () => {
  assert.equal(loadSimdCasts(null), null);
  const refusing = {
    Module: class { constructor() { throw new Error("CompileError: invalid SIMD opcode"); } },
    Instance: class { readonly exports = {}; },
  };
  assert.equal(loadSimdCasts(refusing), null);
});

/** A digest of the cast's bytes and its report, through createCaster, for the in-process and the child runs. */
const CAST_SCRIPT = `
  import { createHash } from "node:crypto";
  const { createCaster } = await import(process.argv[1]);
  const { f32SweepInput } = await import(process.argv[2]);
  const input = new Uint8Array(f32SweepInput(100003, 41).buffer);
  const out = {};
  for (const to of ["BF16", "F16"]) {
    const caster = createCaster("F32", to);
    const bytes = caster.cast(input);
    out[to] = { sha: createHash("sha256").update(bytes).digest("hex"), report: caster.report() };
  }
  const wide = createCaster("BF16", "F32");
  out.BF16F32 = createHash("sha256").update(wide.cast(input)).digest("hex");
  out.wasm = typeof WebAssembly;
  console.log(JSON.stringify(out));
`;

test("where WebAssembly is unavailable (node --no-expose-wasm), createCaster falls back to the same bits and report", () => {
  const castModule = fileURLToPath(new URL("../../src/dtype/cast.js", import.meta.url));
  const inputsModule = fileURLToPath(new URL("./simd-inputs.js", import.meta.url));
  const run = (flags: string[]): Record<string, unknown> =>
    JSON.parse(execFileSync(process.execPath, [...flags, "--input-type=module", "-e", CAST_SCRIPT, castModule, inputsModule], { encoding: "utf8" })) as Record<string, unknown>;
  const fallback = run(["--no-expose-wasm"]);
  const fast = run([]);
  assert.equal(fallback.wasm, "undefined");
  assert.equal(fast.wasm, "object");
  const { wasm: _a, ...fallbackResult } = fallback;
  const { wasm: _b, ...fastResult } = fast;
  assert.deepEqual(fastResult, fallbackResult);
  // and the in-process caster (SIMD) agrees with both
  const input = new Uint8Array(f32SweepInput(100003, 41).buffer);
  const caster = createCaster("F32", "BF16");
  assert.equal(createHash("sha256").update(caster.cast(input)).digest("hex"), (fallbackResult.BF16 as { sha: string }).sha);
  assert.deepEqual(JSON.parse(JSON.stringify(caster.report())), (fallbackResult.BF16 as { report: unknown }).report);
});

test("two instances in one shared memory, scratch apart, convert chunks that lie in it in place (every pair, scratch blocks untouched): JS kernel's bits and report", () => {
  const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: boolean }) => { buffer: SharedArrayBuffer } } }).WebAssembly;
  const data: Partial<Record<FloatDType, Uint8Array>> = { F32: new Uint8Array(f32SweepInput(3 * SIMD_BLOCK + 77, 53).buffer), BF16: new Uint8Array(all16().buffer), F16: new Uint8Array(all16().buffer) };
  const pages = (2 * SCRATCH_BYTES + 2 * (3 * SIMD_BLOCK + 77) * 8) / 65536 + 1;
  for (const shared of [true, false]) {
    const memory = new wasm.Memory({ initial: Math.ceil(pages), maximum: Math.ceil(pages), shared });
    const a = loadSimdCasts(undefined, { memory, shared, base: 0 });
    const b = loadSimdCasts(undefined, { memory, shared, base: SCRATCH_BYTES });
    assert.ok(a && b);
    assert.equal(a.buffer, memory.buffer);
    for (const [from, to] of [...PAIRS, ["F16", "BF16"], ["BF16", "F16"]] as Array<[FloatDType, FloatDType]>) {
      const input = data[from] as Uint8Array;
      const n = input.byteLength / SIZE[from];
      // each instance's scratch input and output blocks: a chunk converted in place never passes through them
      const scratchBlocks = [0, SCRATCH_BYTES].map((base) => new Uint8Array(memory.buffer, base, LIST_AT));
      for (const block of scratchBlocks) block.fill(0xa5);
      const src = new Uint8Array(memory.buffer, 2 * SCRATCH_BYTES, input.byteLength);
      src.set(input);
      const dst = new Uint8Array(memory.buffer, 2 * SCRATCH_BYTES + input.byteLength, n * SIZE[to]);
      // chunks alternate between the instances, each chunk's blocks interleaved with the other's state
      const kernels = [kernelFor(from, to, a), kernelFor(from, to, b)];
      const tallies = [new Tally(from, to), new Tally(from, to)];
      const chunk = SIMD_BLOCK + 24;
      for (let at = 0, k = 0; at < n; at += chunk, k ^= 1) {
        const end = Math.min(n, at + chunk);
        (kernels[k] as Kernel).convert(src.subarray(at * SIZE[from], end * SIZE[from]), dst.subarray(at * SIZE[to], end * SIZE[to]), tallies[k] as Tally);
      }
      // the JS kernel over the same chunks, one tally per instance
      const js = [new Tally(from, to), new Tally(from, to)];
      const jsKernels = [kernelFor(from, to, null), kernelFor(from, to, null)];
      const out = new Uint8Array(n * SIZE[to]);
      for (let at = 0, k = 0; at < n; at += chunk, k ^= 1) {
        const end = Math.min(n, at + chunk);
        (jsKernels[k] as Kernel).convert(input.subarray(at * SIZE[from], end * SIZE[from]), out.subarray(at * SIZE[to], end * SIZE[to]), js[k] as Tally);
      }
      // (the JS float16 ↔ bfloat16 kernel reports each distinct pattern at the flush)
      for (const k of [0, 1]) {
        (kernels[k] as Kernel).flush(tallies[k] as Tally);
        (jsKernels[k] as Kernel).flush(js[k] as Tally);
      }
      const label = `${from} → ${to} in a ${shared ? "shared" : "plain"} memory`;
      assert.equal(firstDifference(out, dst), -1, `${label}: bytes`);
      for (const k of [0, 1]) assert.deepEqual((tallies[k] as Tally).report(), (js[k] as Tally).report(), `${label}: report of instance ${k}`);
      // the source is left as it was
      assert.equal(firstDifference(input, src), -1, `${label}: source untouched`);
      for (const block of scratchBlocks) assert.equal(block.findIndex((b) => b !== 0xa5), -1, `${label}: scratch block untouched`);
    }
  }
});
