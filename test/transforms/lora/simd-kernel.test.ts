import { test } from "node:test";
import assert from "node:assert/strict";
import { applyDeltaRows } from "../../../src/transforms/lora/kernel.js";
import { createSimdKernel } from "../../../src/transforms/lora/simd-kernel.js";

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
