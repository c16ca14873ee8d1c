import { test } from "node:test";
import assert from "node:assert/strict";
import { applyDeltaRows, transposeF32 } from "../../../src/transforms/lora/kernel.js";

function run(left: number[], right: number[], rank: number, cols: number, scale: number, w: number[]) {
  const values = Float32Array.from(w);
  const touched = new Uint8Array(w.length);
  applyDeltaRows({
    left: Float32Array.from(left), right: Float32Array.from(right), rank, cols, scale: Math.fround(scale),
    blockStartRow: 0, rowStart: 0, rowEnd: w.length / cols, values, touched, scratch: new Float32Array(cols),
  });
  return { values: [...values], touched: [...touched] };
}

test("W + scale·(L @ R) on exact values", () => {
  // L = [[1, 2], [3, 4]], R = [[1, 0, -1], [2, 1, 0]] → L@R = [[5, 2, -1], [11, 4, -3]]
  const { values, touched } = run([1, 2, 3, 4], [1, 0, -1, 2, 1, 0], 2, 3, 0.5, [10, 20, 30, 40, 50, 60]);
  assert.deepEqual(values, [12.5, 21, 29.5, 45.5, 52, 58.5]);
  assert.deepEqual(touched, [1, 1, 1, 1, 1, 1]);
});

test("a zero delta is not marked touched; signed zeros add as IEEE (and torch) add them", () => {
  // row 0: +0 delta on -0 gives +0 (torch: -0.0 + 0.0 == +0.0); row 1: -0 delta keeps -0
  const { values, touched } = run([0, 1, -1, -1], [0, 0, 0, 0], 2, 2, 2, [-0, 1.5, -0, 2]);
  assert.ok(Object.is(values[0], 0));
  assert.ok(Object.is(values[2], -0));
  assert.deepEqual(values.slice(1, 2).concat(values.slice(3)), [1.5, 2]);
  assert.deepEqual(touched, [0, 0, 0, 0]);
});

test("each step rounds to float32: the product, the scaled delta, then the sum", () => {
  // delta = 1e-8·1 (float32), scale 1 → 1 + 1e-8 rounds back to 1 in float32: delta non-zero, value unchanged
  const { values, touched } = run([1e-8], [1], 1, 1, 1, [1]);
  assert.deepEqual(values, [1]);
  assert.deepEqual(touched, [1]);
  // partial sums rounded to float32 in increasing k: (2^24 + 1) → 2^24, then + 1 → 2^24 again (not 2^24 + 2)
  const r = run([1, 1, 1, 1, 1, 1], [2 ** 24, 1, 1, 0, 0, 0], 6, 1, 1, [0]);
  assert.deepEqual(r.values, [2 ** 24]);
  // products rounded to float32 before the sum: (1 + 2^-23)² = 1 + 2^-22 + 2^-46 → 1 + 2^-22, then − (1 + 2^-22) = 0
  const p = 1 + 2 ** -23;
  const q = run([p, -1], [p, 1 + 2 ** -22], 2, 1, 1, [5]);
  assert.deepEqual(q.values, [5]);
  assert.deepEqual(q.touched, [0]);
});

test("transposeF32 turns rows × cols into cols × rows", () => {
  assert.deepEqual([...transposeF32(Float32Array.from([1, 2, 3, 4, 5, 6]), 2, 3)], [1, 4, 2, 5, 3, 6]);
});

test("the kernel equals the one-term-at-a-time definition for every rank (unrolled and tail paths)", () => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5);
  for (let rank = 1; rank <= 9; rank++) {
    const rows = 3, cols = 7, scale = Math.fround(1.7);
    const left = Float32Array.from({ length: rows * rank }, rnd);
    const right = Float32Array.from({ length: rank * cols }, rnd);
    const w = Array.from({ length: rows * cols }, () => Math.fround(rnd() * 0.1));
    const got = run([...left], [...right], rank, cols, scale, w).values;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        let acc = Math.fround((left[i * rank] as number) * (right[j] as number));
        for (let k = 1; k < rank; k++) acc = Math.fround(acc + Math.fround((left[i * rank + k] as number) * (right[k * cols + j] as number)));
        const want = Math.fround((w[i * cols + j] as number) + Math.fround(acc * scale));
        assert.ok(Object.is(got[i * cols + j], want), `rank ${rank} [${i}, ${j}]`);
      }
    }
  }
});
