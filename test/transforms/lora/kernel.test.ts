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

test("each step rounds to float32: the scaled delta, then the sum", () => {
  // delta = 1e-8·1 (float32), scale 1 → 1 + 1e-8 rounds back to 1 in float32: delta non-zero, value unchanged
  const { values, touched } = run([1e-8], [1], 1, 1, 1, [1]);
  assert.deepEqual(values, [1]);
  assert.deepEqual(touched, [1]);
  // partial sums rounded to float32 in increasing k: (2^24 + 1) → 2^24, then + 1 → 2^24 again
  const r = run([1, 1, 1], [2 ** 24, 1, 1], 3, 1, 1, [0]);
  assert.deepEqual(r.values, [2 ** 24]);
});

test("transposeF32 turns rows × cols into cols × rows", () => {
  assert.deepEqual([...transposeF32(Float32Array.from([1, 2, 3, 4, 5, 6]), 2, 3)], [1, 4, 2, 5, 3, 6]);
});
