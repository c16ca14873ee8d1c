/**
 * Tiny tensors of a safetensors source read through a store that is not the local file system
 * (test/support/memory-store.ts): served from blocks of their file read through the store, bit for bit, with one
 * open per block instead of one per tensor; a tensor over the small-read limit is still one ranged read of its own.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { openSourceStore } from "../../src/sources/open.js";
import { SMALL_READ_MAX } from "../../src/sources/small-reads.js";
import { safetensorsBytes, type TestTensor } from "../support/build-model.js";
import { memoryStore } from "../support/memory-store.js";
import { readAll } from "../support/read-tensors.js";

test("tiny tensors from a store come from blocks read through the store; a larger tensor is its own read", async () => {
  const tensors: TestTensor[] = Array.from({ length: 300 }, (_, i) => ({
    name: `layers.${i}.scale`,
    dtype: "F32",
    shape: [2],
    data: new Uint8Array(new Float32Array([i, -i - 0.5]).buffer),
  }));
  const big = new Uint8Array(SMALL_READ_MAX * 2).map((_, i) => (i * 7) & 0xff);
  tensors.push({ name: "lm_head.weight", dtype: "U8", shape: [big.length], data: big });
  const store = memoryStore(new Map([["model.safetensors", safetensorsBytes(tensors)]]));
  const model = await openSourceStore(store);
  const opensAtOpen = store.opens;
  const read = await readAll(model);
  assert.equal(read.size, 301);
  for (const t of tensors) {
    const r = read.get(t.name);
    assert.ok(r, t.name);
    assert.ok(Buffer.from(r.bytes).equals(Buffer.from(t.data)), `${t.name}: bytes differ`);
  }
  // The 300 tiny tensors (2.4 KB) lie in the file's first block: one open for them, one for lm_head.weight.
  assert.equal(store.opens - opensAtOpen, 2);
  assert.equal(store.openNow, 0);
});
