import { test } from "node:test";
import assert from "node:assert/strict";
import { blockReader } from "../../../src/transforms/lora/block-reader.js";
import type { TensorRef } from "../../../src/sources/tensor-ref.js";

const BYTES = Uint8Array.from({ length: 1000 }, (_, i) => (i * 37 + 11) & 0xff);

type Style = "alloc" | "read-ahead" | "own buffers";

/** A tensor of `bytes` whose chunks are `sizes` long (cycled), read with the source's `style` of buffers. */
function fakeRef(bytes: Uint8Array, sizes: readonly number[], style: Style): TensorRef {
  return {
    name: "w", dtype: "U8", shape: [bytes.byteLength], byteLength: BYTES.byteLength, origin: "fake",
    async *chunks(_chunkSize: number, alloc?: (n: number) => Uint8Array) {
      const get = (n: number): Uint8Array => (style !== "own buffers" && alloc ? alloc(n) : new Uint8Array(n));
      let at = 0;
      let k = 0;
      const read = (): Uint8Array | null => {
        if (at >= bytes.byteLength) return null;
        const n = Math.min(sizes[k++ % sizes.length] as number, bytes.byteLength - at);
        const chunk = get(n);
        chunk.set(bytes.subarray(at, at + n));
        at += n;
        return chunk;
      };
      if (style !== "read-ahead") {
        for (let c = read(); c !== null; c = read()) {
          await Promise.resolve();
          yield c;
        }
        return;
      }
      // reads the next chunk into its own buffer before handing out this one
      let c = read();
      while (c !== null) {
        const next = read();
        await Promise.resolve();
        yield c;
        c = next;
      }
    },
  };
}

async function readBlocks(ref: TensorRef, block: number, chunkSize: number): Promise<Uint8Array[]> {
  const reader = blockReader(ref, chunkSize);
  const out: Uint8Array[] = [];
  try {
    for (;;) {
      const dest = new Uint8Array(new SharedArrayBuffer(block + 8)).subarray(0, block);
      const n = await reader.fill(dest);
      if (n === 0) return out;
      out.push(dest.slice(0, n));
    }
  } finally {
    await reader.close();
  }
}

test("a block reader fills blocks with the tensor's bytes in order, whatever the source's chunks and buffers", async () => {
  for (const style of ["alloc", "read-ahead", "own buffers"] as const) {
    for (const sizes of [[100], [64], [7, 130, 1], [1000], [333, 667]]) {
      for (const block of [100, 64, 250, 1000, 3000]) {
        const blocks = await readBlocks(fakeRef(BYTES, sizes, style), block, block);
        const want = Math.ceil(BYTES.byteLength / block);
        assert.equal(blocks.length, want, `${style} ${sizes} ${block}`);
        blocks.forEach((b, i) => assert.deepEqual(b, BYTES.subarray(i * block, (i + 1) * block), `${style} chunks ${sizes} block ${block}: block ${i}`));
      }
    }
  }
});

test("a block reader fails when the source gives fewer or more bytes than the tensor has", async () => {
  for (const style of ["alloc", "read-ahead", "own buffers"] as const) {
    for (const bytes of [BYTES.subarray(0, 999), Uint8Array.from([...BYTES, 1])]) {
      await assert.rejects(readBlocks(fakeRef(bytes, [100], style), 250, 100), (e: Error & { code?: string }) => {
        assert.equal(e.code, "UNREADABLE");
        assert.match(e.message, new RegExp(`fake: "w": source gave ${bytes.byteLength > 1000 ? "1001|1100" : 999} bytes instead of 1000`));
        return true;
      });
    }
  }
});
