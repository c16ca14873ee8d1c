import { test } from "node:test";
import assert from "node:assert/strict";
import { BufferPool, FREE_BYTES_KEPT } from "../../src/export/buffer-pool.js";

const MiB = 1024 * 1024;

test("buffer pool: a released buffer is handed out again for its size, to the next shard as to this one", () => {
  const pool = new BufferPool();
  const a = pool.alloc(2 * MiB);
  assert.equal(a.byteLength, 2 * MiB);
  a.fill(7);
  pool.release(a);
  const b = pool.alloc(2 * MiB);
  assert.equal(b.buffer, a.buffer, "the same memory, not a fresh allocation");
  const c = pool.alloc(2 * MiB);
  assert.notEqual(c.buffer, a.buffer, "a buffer in use is never handed out twice");
  assert.notEqual(pool.alloc(MiB).buffer, a.buffer, "another size gets its own buffer");
});

test("buffer pool: keeps at most FREE_BYTES_KEPT of free buffers, and never a view into a larger buffer", () => {
  const pool = new BufferPool();
  const size = 4 * MiB;
  const n = FREE_BYTES_KEPT / size + 3;
  const bufs = Array.from({ length: n }, () => pool.alloc(size));
  for (const b of bufs) pool.release(b);
  const kept = new Set(bufs.map((b) => b.buffer));
  let reused = 0;
  for (let i = 0; i < n; i++) if (kept.has(pool.alloc(size).buffer)) reused++;
  assert.equal(reused, FREE_BYTES_KEPT / size);

  const view = pool.alloc(2 * MiB).subarray(0, MiB);
  pool.release(view);
  assert.notEqual(pool.alloc(MiB).buffer, view.buffer);
});
