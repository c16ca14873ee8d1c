import { test } from "node:test";
import assert from "node:assert/strict";
import { applyDeltaRows } from "../../../src/transforms/lora/kernel.js";
import { createSimdKernel } from "../../../src/transforms/lora/simd-kernel.js";
import { countChanges } from "../../../src/transforms/lora/merge-rows.js";
import { createEncoder } from "../../../src/dtype/cast.js";

test("the WebAssembly SIMD kernel gives the JS kernel's bits (every rank, columns with and without a tail)", () => {
  const simd = createSimdKernel();
  assert.ok(simd, "Node >= 20 has WebAssembly SIMD");
  let seed = 99;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5);
  for (const cols of [1, 3, 4, 7, 8, 33, 64]) {
    for (let rank = 1; rank <= 9; rank++) {
      const rows = 5, scale = Math.fround(rank / 3);
      const left = Float32Array.from({ length: rows * rank }, rnd);
      const right = Float32Array.from({ length: rank * cols }, () => rnd() * 1e-3);
      const w = Float32Array.from({ length: rows * cols }, rnd);
      const want = Float32Array.from(w), wantTouched = new Uint8Array(rows * cols);
      applyDeltaRows({ left, right, rank, cols, scale, blockStartRow: 0, rowStart: 0, rowEnd: rows, values: want, touched: wantTouched, scratch: new Float32Array(cols) });
      // rows 1..4 of a block starting at row 1, to check the row offsets
      const got = Float32Array.from(w.subarray(cols)), touched = new Uint8Array((rows - 1) * cols);
      simd.applyDeltaRows({ left, right, rank, cols, scale, blockStartRow: 1, rowStart: 1, rowEnd: rows, values: got, touched, scratch: new Float32Array(cols) });
      assert.deepEqual(new Uint32Array(got.buffer), new Uint32Array(want.buffer.slice(cols * 4)), `cols ${cols} rank ${rank}`);
      assert.deepEqual(touched, wantTouched.subarray(cols));
    }
  }
});

test("the fused bfloat16 pass (decode, update, flags) gives the bits of decoding then the JS kernel, and flags rows that overflow", () => {
  const simd = createSimdKernel();
  assert.ok(simd);
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5);
  for (const cols of [16, 48]) {
    for (const rank of [1, 2, 3, 4, 7, 16, 17]) {
      const rows = 11, scale = Math.fround(2 / rank);
      const left = Float32Array.from({ length: rows * rank }, rnd);
      const right = Float32Array.from({ length: rank * cols }, () => rnd() * 1e-2);
      right[1] = 0; // a zero delta column for row 0 when rank 1: touched 0
      const bits = Uint16Array.from({ length: rows * cols }, () => (Math.floor((rnd() + 0.5) * 0x7f00) & 0x7fff) | (rnd() > 0 ? 0x8000 : 0));
      bits[0] = 0x8000; // -0
      bits[cols + 3] = 0x7f7f; // the largest finite bfloat16: may overflow F16 and BF16 after the update
      bits[2 * cols + 5] = 0x7fc0; // NaN
      bits[3 * cols + 1] = 0xff80; // -inf
      const want = new Float32Array(new Uint32Array(Array.from(bits, (h) => h << 16)).buffer);
      const wantTouched = new Uint8Array(rows * cols);
      applyDeltaRows({ left, right, rank, cols, scale, blockStartRow: 0, rowStart: 0, rowEnd: rows, values: want, touched: wantTouched, scratch: new Float32Array(cols) });
      const got = new Float32Array((rows - 1) * cols), touched = new Uint8Array((rows - 1) * cols);
      const { flagged, changed, tooSmall } = simd.mergeBf16Rows({ left, right, rank, cols, scale, blockStartRow: 1, rowStart: 1, rowEnd: rows, values: got, touched, baseBits: bits.subarray(cols), limit: 65520, out: null });
      const wantBits = new Uint32Array(want.buffer.slice(cols * 4));
      const gotBits = new Uint32Array(got.buffer);
      for (let i = 0; i < gotBits.length; i++) {
        const nan = Number.isNaN(got[i]) && Number.isNaN(want[cols + i]);
        assert.ok(nan || gotBits[i] === wantBits[i], `cols ${cols} rank ${rank} element ${i}`);
      }
      assert.deepEqual(touched, wantTouched.subarray(cols));
      const wantFlagged = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].filter((r) => want.subarray(r * cols, (r + 1) * cols).some((x) => !(Math.abs(x) < 65520)));
      assert.deepEqual(flagged, wantFlagged, `cols ${cols} rank ${rank}`);
      assert.ok(flagged.includes(1) && flagged.includes(2) && flagged.includes(3));
      // counts over the rows not flagged: as countChanges counts them on the rounded bits
      let wantChanged = 0, wantTooSmall = 0;
      for (const r of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].filter((x) => !flagged.includes(x))) {
        const out = createEncoder("BF16").encode(want.subarray(r * cols, (r + 1) * cols));
        const c = countChanges(out, new Uint8Array(bits.buffer, r * cols * 2, cols * 2), wantTouched.subarray(r * cols, (r + 1) * cols), 2);
        wantChanged += c.changed;
        wantTooSmall += c.tooSmall;
      }
      assert.deepEqual({ changed, tooSmall }, { changed: wantChanged, tooSmall: wantTooSmall }, `cols ${cols} rank ${rank}`);
    }
  }
});

test("the fused pass with bfloat16 output writes the encoder's bits and its cast report, and flags rows with zeros or subnormals", () => {
  const simd = createSimdKernel();
  assert.ok(simd);
  let seed = 11;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5);
  const rows = 8, cols = 32, rank = 16, scale = Math.fround(2);
  const left = Float32Array.from({ length: rows * rank }, rnd);
  const right = Float32Array.from({ length: rank * cols }, () => rnd() * 1e-2);
  const bits = Uint16Array.from({ length: rows * cols }, () => 0x3c00 + (Math.floor((rnd() + 0.5) * 0x0800) & 0x07ff) | (rnd() > 0 ? 0x8000 : 0));
  const zeroRow = new Float32Array(rank);
  left.set(zeroRow, 2 * rank); // row 2: no delta, and a zero in the base → a zero result
  bits[2 * cols + 7] = 0;
  left.set(zeroRow, 4 * rank); // row 4: no delta, a subnormal base value (2^-130) stays subnormal
  bits[4 * cols + 9] = 0x0008;
  bits[6 * cols] = 0xffc0; // row 6: a NaN in the base
  const values = new Float32Array(rows * cols), touched = new Uint8Array(rows * cols), out = new Uint8Array(rows * cols * 2);
  const r = simd.mergeBf16Rows({ left, right, rank, cols, scale, blockStartRow: 0, rowStart: 0, rowEnd: rows, values, touched, baseBits: bits, limit: 2 ** 128 - 2 ** 119, out });
  assert.deepEqual(r.flagged, [2, 4, 6]);
  // the reference: decode, then the JS kernel
  const want = new Float32Array(new Uint32Array(Array.from(bits, (h) => h << 16)).buffer);
  const wantTouched = new Uint8Array(rows * cols);
  applyDeltaRows({ left, right, rank, cols, scale, blockStartRow: 0, rowStart: 0, rowEnd: rows, values: want, touched: wantTouched, scratch: new Float32Array(cols) });
  // flagged rows leave their float32 values and flags for the caller to finish; clean rows are finished
  for (const row of r.flagged) {
    const [from, to] = [row * cols, (row + 1) * cols];
    assert.deepEqual(new Uint32Array(values.buffer, from * 4, cols).filter((_, i) => !Number.isNaN(want[from + i])), new Uint32Array(want.buffer, from * 4, cols).filter((_, i) => !Number.isNaN(want[from + i])), `row ${row}`);
    assert.deepEqual(touched.subarray(from, to), wantTouched.subarray(from, to), `row ${row}`);
  }
  const clean = [0, 1, 3, 5, 7];
  const encoder = createEncoder("BF16");
  for (const row of clean) {
    const wantOut = encoder.encode(want.subarray(row * cols, (row + 1) * cols));
    assert.deepEqual(out.subarray(row * cols * 2, (row + 1) * cols * 2), wantOut, `row ${row}`);
  }
  const report = encoder.report();
  assert.deepEqual(r.cast, { elements: report.elements, changed: report.changed, maxAbsError: report.maxAbsError, maxRelError: report.maxRelError });
  assert.ok(report.changed > 0 && report.maxRelError > 0);
});

test("the fused pass's cast report stays the encoder's when it divides only where the relative-error maximum can rise", () => {
  // Many short rows over a wide range of exponents and mantissas: the row and the column that hold the maximum
  // move (rounding down, up, to even, into the next binade), and rows start from the maximum of the rows before.
  const simd = createSimdKernel();
  assert.ok(simd);
  for (const seed0 of [1, 2, 3, 4, 5, 6]) {
    let seed = seed0;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5);
    const rows = 96, cols = 64, rank = 3, scale = Math.fround(0.5);
    const left = Float32Array.from({ length: rows * rank }, rnd);
    const right = Float32Array.from({ length: rank * cols }, () => rnd() * 2 ** -(seed0 + 2));
    // bf16 bases in [2^-40, 2^40), any sign; some rows of one binade just above 1, where m is near 2^23
    const bits = Uint16Array.from({ length: rows * cols }, (_, i) => {
      const row = Math.floor(i / cols);
      const exp = row % 7 === 3 ? 127 : 87 + Math.floor((rnd() + 0.5) * 80);
      const mant = row % 7 === 3 ? Math.floor((rnd() + 0.5) * 4) : Math.floor((rnd() + 0.5) * 128);
      return (rnd() > 0 ? 0x8000 : 0) | (exp << 7) | mant;
    });
    const values = new Float32Array(rows * cols), touched = new Uint8Array(rows * cols), out = new Uint8Array(rows * cols * 2);
    const r = simd.mergeBf16Rows({ left, right, rank, cols, scale, blockStartRow: 0, rowStart: 0, rowEnd: rows, values, touched, baseBits: bits, limit: 2 ** 128 - 2 ** 119, out });
    assert.deepEqual(r.flagged, [], `seed ${seed0}`);
    const want = new Float32Array(new Uint32Array(Array.from(bits, (h) => h << 16)).buffer);
    applyDeltaRows({ left, right, rank, cols, scale, blockStartRow: 0, rowStart: 0, rowEnd: rows, values: want, touched: new Uint8Array(rows * cols), scratch: new Float32Array(cols) });
    const encoder = createEncoder("BF16");
    assert.deepEqual(out, encoder.encode(want), `seed ${seed0}`);
    const report = encoder.report();
    assert.deepEqual(r.cast, { elements: report.elements, changed: report.changed, maxAbsError: report.maxAbsError, maxRelError: report.maxRelError }, `seed ${seed0}`);
    // the same rows one call at a time (each starting from 0) give the same maxima
    let maxRel = 0;
    for (let row = 0; row < rows; row++) {
      const one = simd.mergeBf16Rows({ left, right, rank, cols, scale, blockStartRow: 0, rowStart: row, rowEnd: row + 1, values, touched, baseBits: bits, limit: 2 ** 128 - 2 ** 119, out });
      maxRel = Math.max(maxRel, one.cast.maxRelError);
    }
    assert.equal(maxRel, report.maxRelError, `seed ${seed0}`);
  }
});
