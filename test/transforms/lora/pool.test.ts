import { test } from "node:test";
import assert from "node:assert/strict";
import { mergeRows } from "../../../src/transforms/lora/merge-rows.js";
import { createMergePool, type SharedMergeBlock } from "../../../src/transforms/lora/pool.js";

function sharedF32(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(n * 4));
}
function sharedU8(n: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(n));
}

/** A small deterministic generator (xorshift32) so the test needs no fixture. */
function filler(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296 - 0.5;
  };
}

/** A block of `rows` BF16 rows starting at `startRow`, with fresh shared buffers. */
function block(p: { left: Float32Array; right: Float32Array; rank: number; cols: number; startRow: number; rows: number; base: Uint8Array; rowMagnitude: Float32Array | null }): SharedMergeBlock {
  const n = p.rows * p.cols;
  const baseBytes = sharedU8(n * 2);
  baseBytes.set(p.base.subarray(p.startRow * p.cols * 2, (p.startRow + p.rows) * p.cols * 2));
  return {
    left: p.left, right: p.right, rank: p.rank, cols: p.cols, scale: Math.fround(2 / Math.sqrt(5)),
    blockStartRow: p.startRow, rowCount: p.rows, baseBytes, baseDtype: "BF16", values: sharedF32(n), touched: sharedU8(n),
    rowMagnitude: p.rowMagnitude, colFactor: null, out: sharedU8(n * 2), outDtype: "BF16",
  };
}

test("the worker pool gives the bytes and counts of one thread, whatever the split", async () => {
  const rows = 37, cols = 53, rank = 5;
  const rnd = filler(7);
  const left = sharedF32(rows * rank), right = sharedF32(rank * cols), magnitude = sharedF32(rows);
  left.forEach((_, i) => (left[i] = rnd()));
  right.forEach((_, i) => (right[i] = rnd() * 0.01));
  magnitude.forEach((_, i) => (magnitude[i] = 1 + rnd()));
  const base = new Uint8Array(rows * cols * 2).map((_, i) => (i % 2 === 1 ? 0x3c + (i % 3) : (i * 37) & 0xff));
  for (const rowMagnitude of [null, magnitude]) {
    const whole = block({ left, right, rank, cols, startRow: 0, rows, base, rowMagnitude });
    const reference = mergeRows({ ...whole, rowStart: 0, rowEnd: rows });
    const pool = createMergePool({ size: 3, minParallelWork: 0 });
    try {
      // two blocks, the second starting at row 20, as the streaming merge does
      const b1 = block({ left, right, rank, cols, startRow: 0, rows: 20, base, rowMagnitude });
      const b2 = block({ left, right, rank, cols, startRow: 20, rows: 17, base, rowMagnitude });
      const r1 = await pool.mergeRows(b1);
      const r2 = await pool.mergeRows(b2);
      assert.deepEqual([...b1.out!, ...b2.out!], [...whole.out!]);
      assert.equal(r1.changed + r2.changed, reference.changed);
      assert.equal(r1.tooSmall + r2.tooSmall, reference.tooSmall);
      assert.equal((r1.cast?.elements ?? 0) + (r2.cast?.elements ?? 0), rows * cols);
      assert.equal((r1.cast?.changed ?? 0) + (r2.cast?.changed ?? 0), reference.cast?.changed);
    } finally {
      await pool.close();
    }
  }
});

test("the pool refuses buffers that are not shared", async () => {
  const pool = createMergePool({ size: 1, minParallelWork: 0 });
  try {
    const b = { ...block({ left: sharedF32(4), right: sharedF32(4), rank: 1, cols: 4, startRow: 0, rows: 4, base: new Uint8Array(32), rowMagnitude: null }), values: new Float32Array(16) };
    await assert.rejects(pool.mergeRows(b), { code: "INTERNAL", message: /values must be a view at offset 0 of a SharedArrayBuffer/ });
  } finally {
    await pool.close();
  }
});

test("a non-finite result is reported at its first element, whichever worker found it", async () => {
  const rows = 8, cols = 8, rank = 1;
  const left = sharedF32(rows), right = sharedF32(cols);
  left.fill(1);
  right.fill(2);
  left[5] = 3e38; // row 5 overflows float32: 3e38 · 2
  left[6] = 3e38;
  const pool = createMergePool({ size: 2, minParallelWork: 0 });
  try {
    const r = await pool.mergeRows(block({ left, right, rank, cols, startRow: 0, rows, base: new Uint8Array(rows * cols * 2), rowMagnitude: null }));
    assert.deepEqual(r.nonFinite, { at: 5 * cols, value: Infinity, base: 0 });
  } finally {
    await pool.close();
  }
});
