/**
 * Strided views whose innermost stride is not 1 (transposes, permutes, steps, storage offsets), written by real
 * PyTorch at test time (strided_views.py beside this file): read bit-identical to torch's `.contiguous()` bytes,
 * from the storage span read once in large reads, or tile by tile (each storage range read once) when the span
 * exceeds the bound.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readTorchCheckpoint } from "../../../src/formats/torch/checkpoint.js";
import { isTorchTensor, type TorchTensor } from "../../../src/formats/torch/rebuild.js";
import { viewChunks } from "../../../src/formats/torch/read-view.js";
import { fileAccess, type RandomAccess } from "../../../src/formats/zip.js";
import { counting } from "./counting-access.js";
import { openTorchFile } from "../../../src/sources/torch.js";
import { repoRoot, tempDir } from "../../helpers.js";

const PYTHON = process.env["TRUECAST_TORCH_PYTHON"] ?? "/usr/bin/python3";
const HAS_TORCH = spawnSync(PYTHON, ["-c", "import torch"]).status === 0;
const NAMES = ["transposed", "big_transposed", "permuted", "every3", "offset_t"];

async function collect(chunks: AsyncIterable<Uint8Array>, chunkSize: number): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) {
    assert.ok(c.length > 0 && c.length <= chunkSize, `chunk of ${c.length} bytes`);
    parts.push(c);
  }
  return Buffer.concat(parts);
}

describe("strided views with a non-unit innermost stride", { skip: HAS_TORCH ? false : `${PYTHON} cannot import torch` }, () => {
  let dir = "";
  let cleanup = async (): Promise<void> => {};
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const py = spawnSync(PYTHON, [join(repoRoot(), "test", "formats", "torch", "strided_views.py"), dir], { encoding: "utf8" });
    assert.equal(py.status, 0, py.stderr);
  });
  after(() => cleanup());

  /** Each view as parsed from strided.pt, read through a counting file. */
  async function withViews(body: (file: RandomAccess, views: Map<string, TorchTensor>) => Promise<void>, name = "strided.pt"): Promise<void> {
    const handle = await open(join(dir, name), "r");
    try {
      const file = fileAccess(handle, (await handle.stat()).size);
      const ck = await readTorchCheckpoint({ file, fileName: name });
      assert.ok(ck.value instanceof Map);
      const views = new Map<string, TorchTensor>();
      for (const [k, v] of ck.value) {
        assert.ok(isTorchTensor(v));
        views.set(k as string, v as unknown as TorchTensor);
      }
      await body(file, views);
    } finally {
      await handle.close();
    }
  }

  it("exports each view as torch's .contiguous() bytes, through the torch source", async () => {
    const m = await openTorchFile(join(dir, "strided.pt"));
    assert.deepEqual(m.tensors.map((t) => t.name).sort(), [...NAMES].sort());
    for (const t of m.tensors) {
      const want = await readFile(join(dir, "strided", `${t.name}.bin`));
      for (const chunk of [8 * 1024 * 1024, 4096, 8]) {
        assert.ok((await collect(t.chunks(chunk), chunk)).equals(want), `${t.name} at chunk size ${chunk}`);
      }
    }
  });

  it("reads a transposed 4 MiB view in one read of its span, not element by element nor once per chunk", async () => {
    await withViews(async (inner, views) => {
      const tensor = views.get("transposed") ?? assert.fail("no transposed view");
      assert.deepEqual([tensor.shape, tensor.stride, tensor.itemSize], [[2048, 1024], [1, 2048], 2]);
      const file = counting(inner);
      const got = await collect(viewChunks({ path: join(dir, "strided.pt"), tensor, chunkSize: 64 * 1024, file }), 64 * 1024);
      assert.ok(got.equals(await readFile(join(dir, "strided", "transposed.bin"))));
      assert.equal(file.reads, 1, `${file.reads} reads`);
      assert.equal(file.bytes, 4 * 1024 * 1024, `${file.bytes} bytes read for a 4 MiB storage`);
    });
  });

  it("reads a view whose span exceeds the bound tile by tile in bounded reads, bit-identically", async () => {
    await withViews(async (inner, views) => {
      for (const name of NAMES.filter((n) => n !== "transposed")) {
        const tensor = views.get(name) ?? assert.fail(`no ${name}`);
        const want = await readFile(join(dir, "strided", `${name}.bin`));
        for (const [spanBytes, windowBytes] of [[4096, 1024], [65_536, 8192], [1000, 16 * 1024 * 1024]] as const) {
          const file = counting(inner);
          const got = await collect(viewChunks({ path: join(dir, "strided.pt"), tensor, chunkSize: 5000, file, spanBytes, windowBytes }), 5000);
          assert.ok(got.equals(want), `${name} span bound ${spanBytes} window ${windowBytes}`);
          assert.ok(file.largest <= Math.max(spanBytes, windowBytes), `${name}: a read of ${file.largest} bytes`);
        }
      }
    });
  });

  it("reads a 40 MiB transposed or permuted view about once with a 4 MiB span bound, bit-identically", async () => {
    await withViews(async (inner, views) => {
      const cases = [
        ["big_t", [10240, 2048], [1, 10240]],
        ["big_p", [16384, 10, 64], [1, 1048576, 16384]],
      ] as const;
      for (const [name, shape, stride] of cases) {
        const tensor = views.get(name) ?? assert.fail(`no ${name}`);
        assert.deepEqual([tensor.shape, tensor.stride], [shape, stride]);
        const span = 40 * 1024 * 1024;
        const spanBytes = 4 * 1024 * 1024;
        const windowBytes = spanBytes;
        const file = counting(inner);
        const chunkSize = 1024 * 1024;
        const got = await collect(viewChunks({ path: join(dir, "strided_big.pt"), tensor, chunkSize, file, spanBytes, windowBytes }), chunkSize);
        assert.ok(got.equals(await readFile(join(dir, "strided", `${name}.bin`))), `${name}: bytes differ from torch's .contiguous()`);
        // The storage ranges of the tiles do not overlap: each byte of the span is read about once, not once per row block.
        assert.ok(file.bytes <= 2 * span, `${name}: ${file.bytes} bytes read for a ${span}-byte span`);
        assert.ok(file.largest <= windowBytes, `${name}: a read of ${file.largest} bytes`);
      }
    }, "strided_big.pt");
  });
});
