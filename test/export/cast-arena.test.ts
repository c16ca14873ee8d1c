/**
 * The cast workers' shared memory (cast-arena.ts): buffers handed out first fit, lowest address first, page-aligned,
 * given back whole from any view of them, and null (a plain buffer for the caller) when small or when full.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CastArena, MIN_RESIDENT_BYTES } from "../../src/export/cast-arena.js";
import { SCRATCH_BYTES } from "../../src/dtype/kernels/simd-layout.js";

const PAGE = 65536;

function arena(workers: number, heapPages: number): CastArena {
  const a = CastArena.create(workers, heapPages * PAGE);
  assert.ok(a, "WebAssembly SIMD in a shared memory is available here");
  return a;
}

test("the arena hands out page-aligned buffers after the workers' scratch, lowest address first, and reuses what comes back", () => {
  const a = arena(2, 8);
  assert.ok(a.buffer instanceof SharedArrayBuffer);
  assert.equal(a.buffer.byteLength, 2 * SCRATCH_BYTES + 8 * PAGE);
  assert.deepEqual([a.scratchBase(0), a.scratchBase(1)], [0, SCRATCH_BYTES]);
  const heap = 2 * SCRATCH_BYTES;
  const x = a.alloc(3 * PAGE - 5);
  const y = a.alloc(2 * PAGE);
  assert.ok(x && y);
  assert.deepEqual([x.byteOffset, x.byteLength, y.byteOffset, y.byteLength], [heap, 3 * PAGE - 5, heap + 3 * PAGE, 2 * PAGE]);
  assert.deepEqual(a.regionOf(y), { at: heap + 3 * PAGE, byteLength: 2 * PAGE });
  assert.equal(a.usedBytes, 5 * PAGE);
  // a view into x gives back all of x, and nothing of y
  assert.equal(a.release(x.subarray(PAGE + 7, PAGE + 9)), true);
  assert.equal(a.usedBytes, 2 * PAGE);
  const z = a.alloc(PAGE);
  assert.equal(z?.byteOffset, heap);
  // 3 pages do not fit in the 2 free before y: they go after it
  const w = a.alloc(3 * PAGE - 1);
  assert.equal(w?.byteOffset, heap + 5 * PAGE);
  assert.equal(a.usedBytes, 6 * PAGE);
  assert.equal(a.alloc(PAGE)?.byteOffset, heap + PAGE);
});

test("the arena gives null for a small request, for one it has no room for, and false for a buffer not its own", () => {
  const a = arena(1, 4);
  assert.equal(a.alloc(MIN_RESIDENT_BYTES - 1), null);
  assert.equal(a.alloc(4 * PAGE + 1), null);
  const x = a.alloc(3 * PAGE);
  assert.ok(x);
  assert.equal(a.alloc(2 * PAGE), null);
  assert.equal(a.release(new Uint8Array(2 * PAGE)), false);
  assert.equal(a.regionOf(new Uint8Array(2 * PAGE)), null);
  // the workers' scratch is not the heap's
  assert.equal(a.regionOf(new Uint8Array(a.buffer, 0, 16)), null);
  assert.equal(a.release(new Uint8Array(a.buffer, 0, 16)), false);
  assert.equal(a.release(x), true);
  assert.equal(a.alloc(4 * PAGE)?.byteOffset, SCRATCH_BYTES);
});
