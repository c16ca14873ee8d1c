/**
 * Views whose span exceeds the bound and whose tiles are a few bytes each (wide transposes, permutes, steps), made
 * through a scratch file: bytes equal to a naive element-by-element gather for 1-, 2-, 4- and 8-byte elements, odd
 * sizes, storage offsets and windows; the span read once in window-sized reads; nothing left in the scratch folder,
 * whether the read ends, is abandoned or fails.
 */
import assert from "node:assert/strict";
import { mkdir, open, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { viewChunks } from "../../../src/formats/torch/read-view.js";
import { fileAccess, type RandomAccess } from "../../../src/formats/zip.js";
import { counting } from "./counting-access.js";
import { tempDir } from "../../helpers.js";
import { naiveGather, type View } from "./naive-gather.js";

const HEADER = 13; // the storage does not start at 0 in the file
const STORAGE_ELEMS = 4096;

/** `base` (a contiguous tensor of this shape at `offset`) permuted by `perm`, each dim sliced [from, to) by `step`. */
function viewOf(base: number[], offset: number, perm: number[], slices: (readonly [number, number, number] | undefined)[] = []): View {
  const stride = base.map(() => 1);
  for (let d = base.length - 2; d >= 0; d--) stride[d] = (stride[d + 1] ?? 1) * (base[d + 1] ?? 1);
  let storageOffset = offset;
  const shape = base.map((n, d) => {
    const [from, to, step] = slices[d] ?? [0, n, 1];
    storageOffset += from * (stride[d] ?? 0);
    stride[d] = (stride[d] ?? 0) * step;
    return Math.ceil((to - from) / step);
  });
  return { shape: perm.map((d) => shape[d] ?? 1), stride: perm.map((d) => stride[d] ?? 0), storageOffset };
}

/** [view, whether it is made through the scratch file (dense, no two elements on one storage element)] */
const VIEWS: [string, View, boolean][] = [
  ["transpose", viewOf([48, 80], 0, [1, 0]), true],
  ["sliced transpose at an offset", viewOf([48, 80], 5, [1, 0], [[3, 45, 1], [1, 78, 1]]), true],
  ["permute (2, 0, 1)", viewOf([6, 10, 64], 0, [2, 0, 1]), true],
  ["permute (1, 2, 0)", viewOf([6, 10, 64], 7, [1, 2, 0]), true],
  ["4-d permute", viewOf([4, 5, 6, 32], 0, [3, 1, 0, 2]), true],
  ["every other column, transposed", viewOf([48, 80], 0, [1, 0], [undefined, [0, 80, 2]]), true],
  ["odd sizes, transposed", viewOf([41, 97], 3, [1, 0]), true],
  ["rows of a contiguous tensor", viewOf([48, 80], 0, [0, 1], [[5, 40, 1]]), true],
  ["every 33rd column (sparse: tile by tile)", viewOf([48, 80], 0, [0, 1], [undefined, [0, 80, 33]]), false],
  ["a broadcast row (overlapping: tile by tile)", { shape: [30, 80], stride: [0, 1], storageOffset: 2 }, false],
];

function extentOf(v: View): number {
  return v.shape.reduce((e, n, d) => e + (n - 1) * (v.stride[d] ?? 0), 1);
}

describe("wide strided views through a scratch file", () => {
  it("are made bit-identically, the span read once in window-sized reads, the scratch folder left empty", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "storage.bin");
      const scratchDir = join(dir, "scratch");
      await mkdir(scratchDir);
      const bytes = new Uint8Array(HEADER + STORAGE_ELEMS * 8 + 5);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + (i >> 8) * 7 + 3) & 0xff;
      await writeFile(path, bytes);
      const handle = await open(path, "r");
      try {
        const inner = fileAccess(handle, bytes.length);
        for (const itemSize of [1, 2, 4, 8]) {
          const storage = bytes.subarray(HEADER, HEADER + STORAGE_ELEMS * itemSize);
          for (const [name, v, spills] of VIEWS) {
            const want = naiveGather(storage, itemSize, v);
            const span = extentOf(v) * itemSize;
            for (const [spanElems, windowElems, chunkSize] of [[300, 97, 24], [1000, 256, 4096], [64, 1000, 8]] as const) {
              const file = counting(inner);
              const tensor = { dtype: "X", itemSize, ...v, storage: { key: "0", byteLength: STORAGE_ELEMS * itemSize, byteOffset: HEADER } };
              const parts: Uint8Array[] = [];
              for await (const c of viewChunks({ path, tensor, chunkSize, file, spanBytes: spanElems * itemSize, windowBytes: windowElems * itemSize, scratchDir })) {
                assert.ok(c.length > 0 && c.length <= chunkSize);
                parts.push(c);
              }
              const what = `${name}, ${itemSize}-byte elements, span bound ${spanElems}, window ${windowElems}`;
              assert.deepEqual(Buffer.concat(parts), Buffer.from(want), what);
              if (spills) {
                assert.equal(file.reads, Math.ceil(span / (windowElems * itemSize)), `${what}: ${file.reads} reads`);
                assert.equal(file.bytes, span, `${what}: ${file.bytes} bytes read`);
              }
              assert.deepEqual(await readdir(scratchDir), [], what);
            }
          }
        }
      } finally {
        await handle.close();
      }
    } finally {
      await cleanup();
    }
  });

  it("reads each window into one lent buffer (a store's file), and makes every chunk in a buffer of the consumer's alloc", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "storage.bin");
      const bytes = new Uint8Array(HEADER + STORAGE_ELEMS * 4);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + (i >> 8) * 7 + 3) & 0xff;
      await writeFile(path, bytes);
      const handle = await open(path, "r");
      try {
        const inner = fileAccess(handle, bytes.length);
        const storage = bytes.subarray(HEADER);
        for (const [name, v, spills] of VIEWS.filter(([, , s]) => s)) {
          assert.ok(spills);
          // A store's file: ranges read into the buffers `chunks` is lent (the export's local and Hub files do).
          const lent = new Set<ArrayBufferLike>();
          let ranges = 0;
          const file = {
            ...counting(inner),
            async *chunks(start: number, length: number, chunkSize: number, alloc?: (n: number) => Uint8Array) {
              ranges++;
              for (let at = 0; at < length; at += chunkSize) {
                const n = Math.min(chunkSize, length - at);
                const c = alloc ? alloc(n) : new Uint8Array(n);
                lent.add(c.buffer);
                c.set(await inner.read(start + at, n));
                yield c;
              }
            },
          };
          const made = new Set<Uint8Array>();
          let allocated = 0;
          const alloc = (n: number) => {
            const c = new Uint8Array(n);
            made.add(c);
            allocated += n;
            return c;
          };
          const tensor = { dtype: "F32", itemSize: 4, ...v, storage: { key: "0", byteLength: STORAGE_ELEMS * 4, byteOffset: HEADER } };
          const parts: Uint8Array[] = [];
          for await (const c of viewChunks({ path, tensor, chunkSize: 96, file, spanBytes: 300 * 4, windowBytes: 97 * 4, scratchDir: dir, alloc })) {
            assert.ok(made.has(c), `${name}: a chunk not made by alloc`);
            parts.push(Buffer.from(c));
          }
          assert.deepEqual(Buffer.concat(parts), Buffer.from(naiveGather(storage, 4, v)), name);
          assert.equal(allocated, Buffer.concat(parts).length, `${name}: alloc asked for the view's bytes, no more`);
          assert.equal(file.reads, 0, `${name}: no read outside the lent buffer`);
          assert.equal(ranges, Math.ceil(extentOf(v) / 97), `${name}: one range a window`);
          assert.equal(lent.size, 1, `${name}: every window read into the same buffer`);
        }
      } finally {
        await handle.close();
      }
    } finally {
      await cleanup();
    }
  });

  it("leaves nothing in the scratch folder when the read is abandoned or fails", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "storage.bin");
      await writeFile(path, new Uint8Array(HEADER + STORAGE_ELEMS * 4));
      const v = viewOf([48, 80], 0, [1, 0]);
      const tensor = { dtype: "F32", itemSize: 4, ...v, storage: { key: "0", byteLength: STORAGE_ELEMS * 4, byteOffset: HEADER } };
      const bounds = { spanBytes: 1024, windowBytes: 512, scratchDir: dir };
      for await (const c of viewChunks({ path, tensor, chunkSize: 64, ...bounds })) {
        assert.equal(c.length, 64);
        break;
      }
      assert.deepEqual(await readdir(dir), ["storage.bin"]);
      // The storage runs past the end of the file: refused in one line, nothing left behind.
      const truncated = { ...tensor, ...viewOf([48, 80], 3000, [1, 0]) };
      await assert.rejects(async () => {
        for await (const _ of viewChunks({ path, tensor: truncated, chunkSize: 64, ...bounds }));
      }, /storage\.bin: the file ends inside a storage record/);
      assert.deepEqual(await readdir(dir), ["storage.bin"]);
    } finally {
      await cleanup();
    }
  });
});
