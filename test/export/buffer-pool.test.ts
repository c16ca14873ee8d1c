import { test } from "node:test";
import assert from "node:assert/strict";
import { BufferPool, FREE_BYTES_KEPT } from "../../src/export/buffer-pool.js";

const MiB = 1024 * 1024;

test("buffer pool: a released buffer of a size asked for again is handed out again, to the next shard as to this one", () => {
  const pool = new BufferPool();
  const a = pool.alloc(2 * MiB);
  const b = pool.alloc(2 * MiB);
  assert.equal(a.byteLength, 2 * MiB);
  pool.release(a);
  pool.release(b);
  const again = [pool.alloc(2 * MiB).buffer, pool.alloc(2 * MiB).buffer];
  assert.deepEqual(new Set(again), new Set([a.buffer, b.buffer]), "the same memory, not fresh allocations");
  const c = pool.alloc(2 * MiB);
  assert.ok(c.buffer !== a.buffer && c.buffer !== b.buffer, "a buffer in use is never handed out twice");
});

test("buffer pool: a size asked for once (a tensor's last chunk), a small buffer and a view are not kept", () => {
  const pool = new BufferPool();
  const tail = pool.alloc(MiB + 3);
  pool.release(tail);
  assert.notEqual(pool.alloc(MiB + 3).buffer, tail.buffer);
  const small = [pool.alloc(100), pool.alloc(100)];
  for (const s of small) pool.release(s);
  assert.ok(!small.some((s) => s.buffer === pool.alloc(100).buffer));
  pool.alloc(2 * MiB);
  const view = pool.alloc(2 * MiB).subarray(0, MiB);
  pool.release(view);
  assert.notEqual(pool.alloc(MiB).buffer, view.buffer);
});

test("buffer pool: keeps at most FREE_BYTES_KEPT of free buffers", () => {
  const pool = new BufferPool();
  const size = 4 * MiB;
  const n = FREE_BYTES_KEPT / size + 3;
  const bufs = Array.from({ length: n }, () => pool.alloc(size));
  for (const b of bufs) pool.release(b);
  const kept = new Set(bufs.map((b) => b.buffer));
  let reused = 0;
  for (let i = 0; i < n; i++) if (kept.has(pool.alloc(size).buffer)) reused++;
  assert.equal(reused, FREE_BYTES_KEPT / size);
});

test("buffer pool: clear() lets go of every free buffer, and the pool still serves afterwards", () => {
  const pool = new BufferPool();
  const bufs = [pool.alloc(2 * MiB), pool.alloc(2 * MiB), pool.alloc(2 * MiB)];
  for (const b of bufs) pool.release(b);
  assert.equal(pool.freeBytes, 6 * MiB);
  pool.clear();
  assert.equal(pool.freeBytes, 0);
  const after = pool.alloc(2 * MiB);
  assert.ok(!bufs.some((b) => b.buffer === after.buffer), "nothing freed is handed out again");
  assert.equal(after.byteLength, 2 * MiB);
});
