import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { coversStorage, isContiguous, runLayout, runStart } from "../../../src/formats/torch/layout.js";
import { viewChunks } from "../../../src/formats/torch/read-view.js";
import { tempDir } from "../../helpers.js";
import { naiveGather, type View } from "./naive-gather.js";

async function gather(path: string, byteOffset: number, storageBytes: number, itemSize: number, v: View, chunkSize: number, windowBytes?: number, spanBytes?: number): Promise<Uint8Array> {
  const tensor = { dtype: "X", itemSize, ...v, storage: { key: "0", byteLength: storageBytes, byteOffset } };
  const parts: Uint8Array[] = [];
  const bounds = { ...(windowBytes !== undefined ? { windowBytes } : {}), ...(spanBytes !== undefined ? { spanBytes } : {}) };
  for await (const c of viewChunks({ path, tensor, chunkSize, ...bounds })) {
    assert.ok(c.length <= chunkSize);
    parts.push(c);
  }
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

describe("strided views", () => {
  it("tells contiguous views and whole-storage views apart", () => {
    const s = { key: "0", byteLength: 24 * 4 };
    const v = (shape: number[], stride: number[], storageOffset = 0) => ({ dtype: "F32", itemSize: 4, shape, stride, storageOffset, storage: s });
    assert.equal(isContiguous(v([4, 6], [6, 1])), true);
    assert.equal(isContiguous(v([1, 6], [99, 1])), true, "a size-1 dim's stride does not matter");
    assert.equal(isContiguous(v([6, 4], [1, 6])), false);
    assert.equal(isContiguous(v([4, 3], [0, 1])), false);
    assert.equal(coversStorage(v([4, 6], [6, 1])), true);
    assert.equal(coversStorage(v([2, 6], [6, 1], 6)), false);
    assert.equal(coversStorage(v([2, 6], [6, 1])), false, "part of the storage");
  });

  it("splits a view into contiguous runs", () => {
    assert.deepEqual(runLayout({ shape: [4, 3], stride: [6, 1] }), { run: 3, outerShape: [4], outerStride: [6] });
    assert.deepEqual(runLayout({ shape: [2, 3, 4], stride: [12, 4, 1] }), { run: 24, outerShape: [], outerStride: [] });
    assert.deepEqual(runLayout({ shape: [6, 4], stride: [1, 6] }), { run: 1, outerShape: [6, 4], outerStride: [1, 6] });
    assert.deepEqual(runLayout({ shape: [4, 3], stride: [0, 1] }), { run: 3, outerShape: [4], outerStride: [0] });
    const l = runLayout({ shape: [2, 2, 3], stride: [100, 10, 1] });
    assert.deepEqual([0, 1, 2, 3].map((r) => runStart(l, 5, r)), [5, 15, 105, 115]);
  });

  it("gathers the logical row-major bytes of any view, whole or tile by tile, at any window and chunk size", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const header = 13; // the storage does not start at 0 in the file
      const storageElems = 360;
      const path = join(dir, "storage.bin");
      const file = new Uint8Array(header + storageElems * 4 + 7);
      for (let i = 0; i < file.length; i++) file[i] = (i * 37 + 11) & 0xff;
      await writeFile(path, file);
      const storage = file.subarray(header, header + storageElems * 4);
      const views: View[] = [
        { shape: [5, 6], stride: [6, 1], storageOffset: 0 },
        { shape: [6, 5], stride: [1, 6], storageOffset: 3 },
        { shape: [4, 3], stride: [0, 1], storageOffset: 10 },
        { shape: [3, 4, 5], stride: [1, 60, 12], storageOffset: 2 },
        { shape: [2, 3, 2, 5], stride: [180, 60, 20, 2], storageOffset: 1 },
        { shape: [7], stride: [50], storageOffset: 9 },
        { shape: [0, 4], stride: [4, 1], storageOffset: 0 },
        { shape: [], stride: [], storageOffset: 359 },
        // overlapping, expanded and not nested: read right whatever the tiles
        { shape: [4, 5], stride: [2, 1], storageOffset: 4 },
        { shape: [5, 4], stride: [1, 0], storageOffset: 6 },
        { shape: [3, 4, 5], stride: [20, 0, 3], storageOffset: 0 },
        { shape: [6, 6], stride: [7, 5], storageOffset: 1 },
        { shape: [4, 1, 6], stride: [1, 99, 30], storageOffset: 5 },
      ];
      for (const itemSize of [1, 2, 4]) {
        const elems = Math.floor(storageElems * 4 / itemSize);
        for (const v of views) {
          const want = naiveGather(storage, itemSize, v);
          for (const chunkSize of [8, 24, 4096]) {
            for (const [windowBytes, spanBytes] of [[undefined, undefined], [8, undefined], [undefined, 16], [8, 40], [24, 1]]) {
              const got = await gather(path, header, elems * itemSize, itemSize, v, chunkSize, windowBytes, spanBytes);
              assert.deepEqual(got, want, `${JSON.stringify(v)} item ${itemSize} chunk ${chunkSize} window ${windowBytes} span ${spanBytes}`);
            }
          }
        }
      }
    } finally {
      await cleanup();
    }
  });
});
