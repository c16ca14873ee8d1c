/**
 * The WebAssembly SIMD float16 ↔ bfloat16 kernels (simd-half.ts, simd-half-to-half.ts) against the JavaScript
 * kernel they replace (half-to-half.ts): same bytes and the same value in every field of the tally, on all 65,536
 * patterns of each direction, on hand-checked edge values at every lane position (NaN payloads and signs,
 * subnormals, overflow to infinity, underflow to zero), on weight-like data whose maxima come from the vector
 * path alone, and at every length and offset around the 16-element step and the block; and against PyTorch's
 * `.to()` bytes (the committed fixtures, and torch itself where it is installed).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { fixture } from "../helpers.js";
import { createCaster } from "../../src/dtype/cast.js";
import { kernelFor, loadSimdCasts, type SimdCasts } from "../../src/dtype/kernels/index.js";
import { SIMD_BLOCK } from "../../src/dtype/kernels/simd-module.js";
import { Tally } from "../../src/dtype/tally.js";
import { Rng } from "../fuzz/mutate.js";
import { all16 } from "./simd-inputs.js";

type Half = "F16" | "BF16";
const other = (from: Half): Half => (from === "F16" ? "BF16" : "F16");
const loaded = loadSimdCasts();

/** The module's casts, counting the elements its half-to-half functions convert (to prove they ran). */
function counting(): { simd: SimdCasts; converted: Record<Half, number> } {
  if (loaded === null) throw new Error("WebAssembly SIMD is not available here");
  const converted: Record<Half, number> = { F16: 0, BF16: 0 };
  const f16ToBf16 = (n: number): number => ((converted.F16 += n), loaded.f16ToBf16(n));
  const bf16ToF16 = (n: number): number => ((converted.BF16 += n), loaded.bf16ToF16(n));
  return { simd: { ...loaded, f16ToBf16, bf16ToF16 }, converted };
}

/** Every field of a tally (the raw maxima too: report() turns them to ∞ once a value overflowed). */
function fields(t: Tally): Record<string, number> {
  const { elements, changed, toInfinity, toZero, toSubnormal, nan, maxAbsError, maxRelError } = t;
  return { elements, changed, toInfinity, toZero, toSubnormal, nan, maxAbsError, maxRelError };
}

interface Result {
  out: Uint16Array;
  tally: Tally;
  /** Elements the module's function converted (SIMD runs only). */
  converted: number;
}

/** Convert `input` in chunks of `chunk` elements with one kernel (SIMD or JS). */
function convert(from: Half, input: Uint16Array, chunk: number, useSimd: boolean): Result {
  const { simd, converted } = counting();
  const kernel = kernelFor(from, other(from), useSimd ? simd : null);
  const tally = new Tally(from, other(from));
  const out = new Uint16Array(input.length);
  const bytes = (a: Uint16Array, at: number, end: number): Uint8Array => new Uint8Array(a.buffer, a.byteOffset + at * 2, (end - at) * 2);
  for (let at = 0; at < input.length; at += chunk) {
    const end = Math.min(input.length, at + chunk);
    kernel.convert(bytes(input, at, end), bytes(out, at, end), tally);
    tally.elements += end - at;
  }
  kernel.flush(tally);
  return { out, tally, converted: converted[from] };
}

function firstDifference(a: Uint16Array, b: Uint16Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** SIMD and JS give the same elements and tally; returns the SIMD result. */
function assertSame(from: Half, input: Uint16Array, chunk: number): Result {
  const js = convert(from, input, chunk, false);
  const wasm = convert(from, input, chunk, true);
  const at = firstDifference(js.out, wasm.out);
  const where = `${from} → ${other(from)}, ${input.length} elements in chunks of ${chunk}`;
  const hex = (x: number | undefined): string => `0x${x?.toString(16)}`;
  assert.equal(at, -1, `${where}: element ${at} (${hex(input[at])}) gives ${hex(wasm.out[at])}, JS ${hex(js.out[at])}`);
  assert.deepEqual(fields(wasm.tally), fields(js.tally), `${where}: tallies differ`);
  assert.deepEqual(wasm.tally.report(), js.tally.report(), `${where}: reports differ`);
  // the module converted every whole 16-element step of every chunk
  let steps = 0;
  for (let at = 0; at < input.length; at += chunk) steps += (Math.min(input.length, at + chunk) - at) & ~15;
  assert.equal(wasm.converted, steps, `${where}: elements through the module`);
  return wasm;
}

test("the kernel choice takes the WebAssembly SIMD kernels for F16 → BF16 and BF16 → F16", () => {
  for (const from of ["F16", "BF16"] as const) {
    const { simd, converted } = counting();
    const kernel = kernelFor(from, other(from), simd);
    const src = new Uint16Array(64).fill(0x3c00);
    kernel.convert(new Uint8Array(src.buffer), new Uint8Array(128), new Tally(from, other(from)));
    assert.equal(converted[from], 64, `${from} → ${other(from)}`);
  }
});

test("all 65,536 patterns, both directions: the JS kernel's bits and every tally field", () => {
  const input = all16();
  for (const from of ["F16", "BF16"] as const) {
    for (const chunk of [0x10000, SIMD_BLOCK + 3, SIMD_BLOCK, 1000, 17, 7]) assertSame(from, input, chunk);
  }
  // and what the whole sweep reports, as the formats say
  const f16 = convert("F16", input, 0x10000, true).tally;
  assert.deepEqual(fields(f16), {
    elements: 65536, changed: 54784, toInfinity: 0, toZero: 0, toSubnormal: 0, nan: 2 * 1023,
    maxAbsError: 128, maxRelError: 1 / 257, // 65,152, a tie 128 from both neighbours; 257 · 2^-24 → 256 · 2^-24
  });
  const bf16 = convert("BF16", input, 0x10000, true).tally;
  assert.equal(bf16.nan, 2 * 127);
  assert.equal(bf16.toInfinity, 2 * (0x7f80 - 0x4780)); // every finite bfloat16 from 65,536 up
  assert.equal(bf16.report().maxAbsError, Infinity);
  assert.equal(bf16.report().maxRelError, Infinity);
});

/** [source, expected result] pairs, checked by hand. */
const BF16_EDGES: Array<[number, number]> = [
  [0x477f, 0x7bf8], // 65,280: the largest bfloat16 below 65,536, exact
  [0x4780, 0x7c00], [0xc780, 0xfc00], [0x7f7f, 0x7c00], // 65,536, −65,536, the largest bfloat16: overflow
  [0x7f80, 0x7c00], [0xff80, 0xfc00], // infinities stay
  [0x7fc1, 0x7e08], [0xff81, 0xfe08], // NaNs: sign, payload's top bits, quiet bit
  [0x0001, 0x0000], [0x3300, 0x0000], // the smallest subnormal, 2^-25 (a tie to even): to zero
  [0x3880, 0x0400], [0x387f, 0x03fc], [0x3380, 0x0001], // 2^-14; just below (exact subnormal); 2^-24
  [0x3301, 0x0001], [0xb3c0, 0x8002], [0x8000, 0x8000], // above 2^-25: up; −1.5 · 2^-24: tie to even; −0
];
const F16_EDGES: Array<[number, number]> = [
  [0x7bff, 0x4780], // 65,504 → 65,536 (finite in bfloat16)
  [0x7c00, 0x7f80], [0xfc00, 0xff80], [0x7e01, 0x7fc0], [0xfc01, 0xffc0], // infinities; NaNs (sign, quiet)
  [0x0001, 0x3380], [0x03ff, 0x3880], [0x0101, 0x3780], // subnormals: exact; up to 2^-14; 257 · 2^-24: tie to even
  [0x3c01, 0x3f80], [0x3c04, 0x3f80], [0x3c0c, 0x3f82], // 1 + 2^-10: down; ties to even: down, up
  [0x8000, 0x8000], [0x3c00, 0x3f80], [0xbc00, 0xbf80],
];

test("edge values at every lane position: the expected bits, and the report the formats imply", () => {
  const cases = { F16: F16_EDGES, BF16: BF16_EDGES };
  const expected = {
    F16: { changed: 6, toInfinity: 0, toZero: 0, toSubnormal: 0, nan: 2, maxAbsError: 32, maxRelError: 1 / 257 },
    // the largest finite error is 2^-25 (2^-25 → 0 and −1.5 · 2^-24 → −2^-23); 2^-133 → 0 has relative error 1
    BF16: { changed: 7, toInfinity: 3, toZero: 2, toSubnormal: 4, nan: 2, maxAbsError: 2 ** -25, maxRelError: 1 },
  };
  for (const from of ["F16", "BF16"] as const) {
    const edges = cases[from];
    for (let shift = 0; shift < 16; shift++) {
      // the edges from lane `shift` of a step on, among exact values (1.0), then 5 more: a last partial step
      const input = new Uint16Array(shift + edges.length + 16 + 5).fill(from === "F16" ? 0x3c00 : 0x3f80);
      edges.forEach(([x], k) => (input[shift + k] = x));
      const { out, tally } = assertSame(from, input, input.length);
      edges.forEach(([x, y], k) => assert.equal(out[shift + k], y, `${from} 0x${x.toString(16)} at lane ${(shift + k) % 16}`));
      const { elements: _, ...counts } = fields(tally);
      assert.deepEqual(counts, expected[from], `${from}, edges from lane ${shift}`);
    }
  }
  assert.equal(convert("BF16", Uint16Array.from(BF16_EDGES, ([x]) => x), 16, true).tally.report().maxAbsError, Infinity);
});

/** n float16 or bfloat16 patterns of normal(mean, σ) values (float32 rounded by createCaster). */
function normal(to: Half, n: number, mean: number, sigma: number, seed: number): Uint16Array {
  const rng = new Rng(seed);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = (rng.u32() + 1) / 4294967297;
    const v = (rng.u32() + 1) / 4294967297;
    values[i] = mean + sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  const bytes = createCaster("F32", to).cast(new Uint8Array(values.buffer));
  return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
}

test("weight-like data the vector path converts alone keeps the JS kernel's counts and maxima exactly", () => {
  // normal(0.1, 0.02) float16: no subnormal, nothing listed; the maxima come from the module's per-lane keys
  const n = 1 << 20;
  const f16 = normal("F16", n, 0.1, 0.02, 7);
  const { tally } = assertSame("F16", f16, n);
  assertSame("F16", f16, SIMD_BLOCK - 8);
  assert.ok(tally.changed > n / 2 && tally.maxAbsError > 0 && tally.maxRelError > 0, JSON.stringify(fields(tally)));
  // bfloat16 weights, tiny values included (listed), and large ones that overflow float16
  for (const [mean, sigma] of [[0, 0.02], [0, 3e4]] as const) {
    const bf16 = normal("BF16", n, mean, sigma, 11);
    const result = assertSame("BF16", bf16, n);
    if (sigma > 1) assert.ok(result.tally.toInfinity > n / 100, JSON.stringify(fields(result.tally)));
    else assert.ok(result.tally.toSubnormal > 0 && result.tally.changed > 0, JSON.stringify(fields(result.tally)));
  }
});

test("every length to 40 at every offset to 8, and chunks around the step and the block", () => {
  const input = all16().map((h) => (h * 0x9e37) & 0xffff); // every pattern, scattered
  for (const from of ["F16", "BF16"] as const) {
    for (let offset = 0; offset < 8; offset++) {
      for (let length = 0; length <= 40; length++) assertSame(from, input.subarray(offset + 1000, offset + 1000 + length), 64);
    }
    for (const chunk of [1, 3, 8, 9, 15, 16, 23, SIMD_BLOCK - 1, SIMD_BLOCK + 1, 3 * SIMD_BLOCK + 7]) assertSame(from, input, chunk);
  }
});

/** torch's NaNs differ in payload (and for bfloat16 in sign): where torch's result is NaN, ours must be too. */
function assertTorchBits(from: Half, ours: Uint16Array, torch: Uint16Array): void {
  const isNan = (h: number, dtype: Half): boolean => (dtype === "F16" ? (h & 0x7fff) > 0x7c00 : (h & 0x7fff) > 0x7f80);
  let compared = 0;
  for (let h = 0; h < 0x10000; h++) {
    const [mine, theirs] = [ours[h] ?? -1, torch[h] ?? -2];
    if (isNan(h, from)) {
      assert.ok(isNan(mine, other(from)) && isNan(theirs, other(from)), `${from} 0x${h.toString(16)}: NaN`);
      continue;
    }
    assert.equal(mine, theirs, `${from} 0x${h.toString(16)}: ours 0x${mine.toString(16)}, torch 0x${theirs.toString(16)}`);
    compared += 1;
  }
  assert.equal(compared, 0x10000 - (from === "F16" ? 2046 : 254));
}

test("all 65,536 patterns give PyTorch's .to() bytes (committed fixtures from torch 1.13)", () => {
  const read = (name: string): Uint16Array => {
    const b = readFileSync(fixture("casts", name));
    return new Uint16Array(b.buffer, b.byteOffset, b.byteLength >>> 1);
  };
  const files = [["F16", "in_f16_all.bin", "f16_to_bf16.torch.bin"], ["BF16", "in_bf16_all.bin", "bf16_to_f16.torch.bin"]] as const;
  for (const [from, inName, outName] of files) {
    const input = read(inName);
    assert.equal(firstDifference(input, all16()), -1, `${inName} holds every pattern in order`);
    assertTorchBits(from, assertSame(from, input, input.length).out, read(outName));
  }
});

const PYTHON = process.env["TRUECAST_TORCH_PYTHON"] ?? "/usr/bin/python3";
const HAS_TORCH = spawnSync(PYTHON, ["-c", "import torch"]).status === 0;
const TORCH_SCRIPT = `
import sys, numpy, torch
x = torch.from_numpy(numpy.arange(65536, dtype=numpy.uint16).view(numpy.int16))
for a, b in ((torch.float16, torch.bfloat16), (torch.bfloat16, torch.float16)):
    sys.stdout.buffer.write(x.view(a).to(b).view(torch.int16).numpy().tobytes())
`;

test("all 65,536 patterns give the installed torch's .to() bytes", { skip: HAS_TORCH ? false : `${PYTHON} cannot import torch` }, () => {
  const out = execFileSync(PYTHON, ["-c", TORCH_SCRIPT], { maxBuffer: 1 << 20 });
  assert.equal(out.byteLength, 4 * 0x10000);
  const torch = new Uint16Array(out.buffer, out.byteOffset, 2 * 0x10000);
  for (const [from, theirs] of [["F16", torch.subarray(0, 0x10000)], ["BF16", torch.subarray(0x10000)]] as const) {
    const ours = convert(from, all16(), 0x10000, true);
    assert.equal(ours.converted, 0x10000, "through the module");
    assertTorchBits(from, ours.out, theirs);
  }
});

test("where WebAssembly is unavailable (node --no-expose-wasm), createCaster gives the same bits and report", () => {
  const script = `
    import { createHash } from "node:crypto";
    const { createCaster } = await import(process.argv[1]);
    const input = new Uint8Array(new Uint16Array(65536).map((_, h) => (h * 0x9e37) & 0xffff).buffer);
    const out = { wasm: typeof WebAssembly };
    for (const [from, to] of [["F16", "BF16"], ["BF16", "F16"]]) {
      const caster = createCaster(from, to);
      out[from] = { sha: createHash("sha256").update(caster.cast(input)).digest("hex"), report: caster.report() };
    }
    console.log(JSON.stringify(out));
  `;
  const castModule = fileURLToPath(new URL("../../src/dtype/cast.js", import.meta.url));
  const run = (flags: string[]): Record<string, unknown> => {
    const stdout = execFileSync(process.execPath, [...flags, "--input-type=module", "-e", script, castModule], { encoding: "utf8" });
    return JSON.parse(stdout) as Record<string, unknown>;
  };
  const { wasm: without, ...fallback } = run(["--no-expose-wasm"]);
  const { wasm: withWasm, ...fast } = run([]);
  assert.deepEqual([without, withWasm], ["undefined", "object"]);
  assert.deepEqual(fast, fallback);
  const input = new Uint16Array(65536).map((_, h) => (h * 0x9e37) & 0xffff);
  const simd = convert("BF16", input, 65536, true);
  assert.equal(simd.converted, 65536, "through the module");
  assert.equal(createHash("sha256").update(simd.out).digest("hex"), (fallback.BF16 as { sha: string }).sha);
});
