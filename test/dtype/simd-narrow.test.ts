/**
 * The SIMD narrowing kernels (float32 → bfloat16, float32 → float16) against the JS kernels, element by element
 * and report field by field, on inputs aimed at the SIMD kernels' 16-element steps: every 16-bit result pattern
 * with the cut-off bits at each rounding edge (so that every step test boundary, tie and overflow edge is met, in
 * every lane position), and reports that start from carried maxima (the relative-error window the fast steps test
 * is derived from the maximum so far).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { kernelFor, loadSimdCasts } from "../../src/dtype/kernels/index.js";
import { f16ToF32Table } from "../../src/dtype/tables.js";
import { Tally } from "../../src/dtype/tally.js";
import type { CastReport } from "../../src/dtype/report.js";
import { Rng } from "../fuzz/mutate.js";

const simd = loadSimdCasts();

/** Cut-off bit patterns at the rounding edges: zero, one, just below / at / just above the tie, all ones. */
const BF16_LOWS = [0, 1, 0x7fff, 0x8000, 0x8001, 0xffff];
const F16_LOWS = [0, 1, 0xfff, 0x1000, 0x1001, 0x1fff];

/** Shuffle in place (Fisher–Yates, seeded), so each pattern meets every lane and step position. */
function shuffle(a: Uint32Array, seed: number): Uint32Array {
  const rng = new Rng(seed);
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = a[i] ?? 0;
    a[i] = a[j] ?? 0;
    a[j] = t;
  }
  return a;
}

/** float32 patterns whose bfloat16 truncation is each of the 65,536 patterns, with each edge of cut-off bits. */
function everyBf16Result(): Uint32Array {
  const out = new Uint32Array(0x10000 * BF16_LOWS.length);
  let i = 0;
  for (let h = 0; h < 0x10000; h++) for (const low of BF16_LOWS) out[i++] = ((h << 16) | low) >>> 0;
  return out;
}

/** float32 patterns: each of the 65,536 float16 values widened, with each edge of the 13 bits float16 cuts off. */
function everyF16Result(): Uint32Array {
  const table = f16ToF32Table();
  const out = new Uint32Array(0x10000 * F16_LOWS.length);
  let i = 0;
  for (let h = 0; h < 0x10000; h++) for (const low of F16_LOWS) out[i++] = ((table[h] ?? 0) | low) >>> 0;
  return out;
}

/** Convert with the SIMD or the JS kernel in chunks, the tally starting from `start` maxima. */
function run(to: "BF16" | "F16", bits: Uint32Array, chunk: number, useSimd: boolean, start: [number, number]): { out: Uint16Array; report: CastReport } {
  const kernel = kernelFor("F32", to, useSimd ? simd : null);
  const tally = new Tally("F32", to);
  [tally.maxAbsError, tally.maxRelError] = start;
  const input = new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength);
  const out = new Uint16Array(bits.length);
  const dst = new Uint8Array(out.buffer);
  for (let at = 0; at < bits.length; at += chunk) {
    const end = Math.min(bits.length, at + chunk);
    kernel.convert(input.subarray(at * 4, end * 4), dst.subarray(at * 2, end * 2), tally);
    tally.elements += end - at;
  }
  kernel.flush(tally);
  return { out, report: tally.report() };
}

function assertSame(to: "BF16" | "F16", bits: Uint32Array, chunk: number, start: [number, number] = [0, 0]): CastReport {
  const js = run(to, bits, chunk, false, start);
  const wasm = run(to, bits, chunk, true, start);
  for (let i = 0; i < bits.length; i++) {
    if (js.out[i] !== wasm.out[i]) {
      assert.fail(`F32 → ${to}: element ${i} (0x${(bits[i] ?? 0).toString(16)}) gives 0x${(wasm.out[i] ?? 0).toString(16)}, JS 0x${(js.out[i] ?? 0).toString(16)}`);
    }
  }
  assert.deepEqual(wasm.report, js.report, `F32 → ${to}, chunks of ${chunk}, starting maxima ${start.join(", ")}: reports differ`);
  return wasm.report;
}

test("F32 → BF16: every bfloat16 result pattern with every rounding edge of the cut-off bits, in order and shuffled", () => {
  assert.notEqual(simd, null);
  const ordered = everyBf16Result();
  const report = assertSame("BF16", ordered, ordered.length);
  // the set holds ties, overflows to infinity, underflows and NaNs: the report says so
  assert.ok(report.toInfinity > 0 && report.toZero > 0 && report.nan > 0 && report.changed > 0, JSON.stringify(report));
  const shuffled = shuffle(ordered.slice(), 7);
  for (const chunk of [shuffled.length, 16 * 1024 + 16, 1000]) assertSame("BF16", shuffled, chunk);
});

test("F32 → F16: every float16 result pattern with every rounding edge of the cut-off bits, in order and shuffled", () => {
  const ordered = everyF16Result();
  const report = assertSame("F16", ordered, ordered.length);
  assert.ok(report.toInfinity > 0 && report.toSubnormal > 0 && report.nan > 0 && report.changed > 0, JSON.stringify(report));
  const shuffled = shuffle(ordered.slice(), 11);
  for (const chunk of [shuffled.length, 16 * 1024 + 16, 1000]) assertSame("F16", shuffled, chunk);
});

test("F32 → 16-bit: steps of 16 normal values with one special lane, at each lane position", () => {
  const specials = [0, 0x80000000, 1, 0x007fffff, 0x7f7f8000, 0x7f7fffff, 0x477ff000, 0x7f800000, 0xff800000, 0x7fc00001, 0x7f800001];
  const rng = new Rng(3);
  const bits = new Uint32Array(16 * 16 * specials.length * 4);
  const f = new Float32Array(bits.buffer);
  for (let i = 0; i < bits.length; i++) f[i] = (rng.u32() / 2 ** 32 - 0.5) * 0.1;
  let at = 0;
  for (const special of specials) {
    for (let lane = 0; lane < 16; lane++, at += 64) bits[at + lane] = special;
  }
  for (const to of ["BF16", "F16"] as const) for (const chunk of [bits.length, 64, 48]) assertSame(to, bits, chunk);
});

test("F32 → 16-bit: reports that start from carried maxima give the JS kernel's report", () => {
  // Weight-like values, then the same values with the report's maxima carried in from earlier chunks: at, just
  // below and just above each kernel's largest relative error, its largest possible one, 1 (an underflow to zero
  // seen before) and a huge absolute error.
  // (tiny patterns, which underflow, rather than huge ones: an overflow would make the reported maxima infinite)
  const rng = new Rng(19);
  const bits = new Uint32Array(3 * 16384 + 19);
  const f = new Float32Array(bits.buffer);
  for (let i = 0; i < bits.length; i++) {
    if (rng.chance(0.97)) f[i] = (rng.u32() / 2 ** 32 - 0.5) * 0.04;
    else bits[i] = rng.u32() & 0x87ffffff;
  }
  for (const to of ["BF16", "F16"] as const) {
    const { maxRelError, maxAbsError } = assertSame(to, bits, bits.length);
    const top = to === "BF16" ? 2 ** -8 : 2 ** -11;
    const rels = [0, 2 ** -40, maxRelError, maxRelError * (1 - 2 ** -30), maxRelError * (1 + 2 ** -30), top, top * (1 - 2 ** -23), 0.5, 1];
    for (const rel of rels) {
      for (const abs of [0, maxAbsError, 1e30]) assertSame(to, bits, 4096, [abs, rel]);
    }
  }
});

test("F32 → 16-bit: an element just inside the fast steps' relative-error window raises the maximum, one just outside does not", () => {
  // Starting maximum R = K / 2^23: an element with mantissa bits d = K + 1 (and no others) has relative error
  // (K + 1) / (2^23 + K + 1) > R (as K (K + 1) < 2^23); one with d = K has K / (2^23 + K) < R. Every other lane is
  // exact (low bits zero).
  for (const [to, cut] of [["BF16", 16], ["F16", 13]] as const) {
    for (const k of [0, 1, 100, 1000, 2800]) {
      const r = k / 2 ** 23;
      for (const [d, raises] of [[k + 1, true], [k, false]] as const) {
        for (const lane of [0, 5, 15]) {
          const bits = new Uint32Array(64);
          for (let i = 0; i < bits.length; i++) bits[i] = (0x3f800000 + (i << cut)) >>> 0;
          bits[16 + lane] = (0x3f800000 | d) >>> 0;
          const report = assertSame(to, bits, bits.length, [0, r]);
          assert.equal(report.maxRelError > r, raises && d > 0, `${to}, d = ${d}, lane ${lane}: ${report.maxRelError} vs ${r}`);
        }
      }
    }
  }
});
