import { test } from "node:test";
import assert from "node:assert/strict";
import { applyDeltaRows } from "../../../src/transforms/lora/kernel.js";
import { createMergePool } from "../../../src/transforms/lora/pool.js";

function sharedF32(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(n * 4));
}

/** A small deterministic generator (xorshift32) so the test needs no fixture. */
function filler(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296 - 0.5;
  };
}

test("the worker pool gives the same bits as the single-threaded kernel", async () => {
  const rows = 37, cols = 53, rank = 5, scale = Math.fround(2 / Math.sqrt(5));
  const rnd = filler(7);
  const left = sharedF32(rows * rank), right = sharedF32(rank * cols), values = sharedF32(rows * cols);
  left.forEach((_, i) => (left[i] = rnd()));
  right.forEach((_, i) => (right[i] = rnd()));
  values.forEach((_, i) => (values[i] = rnd() * 0.01));
  const reference = Float32Array.from(values);
  const refTouched = new Uint8Array(rows * cols);
  applyDeltaRows({ left, right, rank, cols, scale, blockStartRow: 0, rowStart: 0, rowEnd: rows, values: reference, touched: refTouched, scratch: new Float32Array(cols) });

  const pool = createMergePool({ size: 3, minParallelWork: 0 });
  try {
    // two blocks, the second starting at row 20, as the streaming merge does
    const touched = new Uint8Array(new SharedArrayBuffer(rows * cols));
    const block1 = sharedF32(20 * cols), block2 = sharedF32(17 * cols);
    block1.set(values.subarray(0, 20 * cols));
    block2.set(values.subarray(20 * cols));
    const t2 = new Uint8Array(new SharedArrayBuffer(17 * cols));
    await pool.applyDelta({ left, right, rank, cols, scale, blockStartRow: 0, rowCount: 20, values: block1, touched });
    await pool.applyDelta({ left, right, rank, cols, scale, blockStartRow: 20, rowCount: 17, values: block2, touched: t2 });
    const got = new Float32Array(rows * cols);
    got.set(block1, 0);
    got.set(block2, 20 * cols);
    assert.deepEqual(new Uint32Array(got.buffer), new Uint32Array(reference.buffer));
    assert.deepEqual([...touched.subarray(0, 20 * cols), ...t2], [...refTouched]);
  } finally {
    await pool.close();
  }
});

test("the pool refuses buffers that are not shared", async () => {
  const pool = createMergePool({ size: 1, minParallelWork: 0 });
  try {
    await assert.rejects(
      pool.applyDelta({ left: new Float32Array(4), right: new Float32Array(4), rank: 1, cols: 4, scale: 1, blockStartRow: 0, rowCount: 4, values: new Float32Array(16), touched: new Uint8Array(16) }),
      { code: "INTERNAL" },
    );
  } finally {
    await pool.close();
  }
});
