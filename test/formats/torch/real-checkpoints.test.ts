/**
 * Checkpoints written by real PyTorch at test time (real_checkpoints.py beside this file): the unpickle budget
 * leaves room to spare for a state dict of 100,000 tensors, and strided views (every 33rd element, transposes,
 * narrow, stride-0 expand, storage offsets, permutes) read bit-exactly in few reads.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CHUNK_SIZE } from "../../../src/export/write-shard.js";
import { budgetLimits } from "../../../src/formats/pickle/budget.js";
import { unpickle } from "../../../src/formats/pickle/unpickler.js";
import { readTorchCheckpoint } from "../../../src/formats/torch/checkpoint.js";
import { readZipDirectory, fileAccess, storedRange, type RandomAccess } from "../../../src/formats/zip.js";
import { torchHooks, isTorchTensor, type TorchTensor } from "../../../src/formats/torch/rebuild.js";
import { viewChunks } from "../../../src/formats/torch/read-view.js";
import { openTorchFile } from "../../../src/sources/torch.js";
import { repoRoot, tempDir } from "../../helpers.js";

const PYTHON = process.env["TRUECAST_TORCH_PYTHON"] ?? "/usr/bin/python3";
const HAS_TORCH = spawnSync(PYTHON, ["-c", "import torch"]).status === 0;

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return Buffer.concat(parts);
}

describe("checkpoints written by PyTorch", { skip: HAS_TORCH ? false : `${PYTHON} cannot import torch` }, () => {
  let dir = "";
  let cleanup = async (): Promise<void> => {};
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const py = spawnSync(PYTHON, [join(repoRoot(), "test", "formats", "torch", "real_checkpoints.py"), dir], { encoding: "utf8" });
    assert.equal(py.status, 0, py.stderr);
  });
  after(() => cleanup());

  /** Unpickle `name`'s data.pkl with its budget divided by `margin` (heap and memo). */
  async function unpickleWithMargin(name: string, margin: number): Promise<unknown> {
    const handle = await open(join(dir, `${name}.pt`), "r");
    try {
      const file = fileAccess(handle, (await handle.stat()).size);
      const { entries } = await readZipDirectory({ file, fileName: `${name}.pt` });
      const { offset, length } = storedRange(name, entries.get(`${name}/data.pkl`) ?? assert.fail("no data.pkl"));
      const bytes = await file.read(offset, length);
      const full = budgetLimits(bytes.length);
      const limits = { ...full, heapBytes: Math.floor(full.heapBytes / margin), memoEntries: Math.floor(full.memoEntries / margin) };
      const hooks = torchHooks({ fileName: `${name}.pt`, locate: (key) => {
        const e = entries.get(`${name}/data/${key}`);
        return e === undefined ? null : { byteOffset: storedRange(name, e).offset, byteLength: Number(e.uncompressedSize) };
      } });
      return unpickle({ bytes, fileName: `${name}.pt`, hooks, limits });
    } finally {
      await handle.close();
    }
  }

  it("reads a 100,000-tensor state dict, whose pickle needs under 90% of its budget (the ceiling's, at this size)", async () => {
    const m = await openTorchFile(join(dir, "many.pt"));
    assert.equal(m.tensors.length, 100_001);
    assert.deepEqual(m.tensors.at(-1)?.shape, [3, 2]);
    const value = await unpickleWithMargin("many", 1.1);
    assert.ok(value instanceof Map && value.size === 100_001);
  });

  it("reads 20,000 short-named Parameters (the most budget per byte torch's pickle needs) with a third to spare", async () => {
    const m = await openTorchFile(join(dir, "short.pt"));
    assert.equal(m.tensors.length, 20_000);
    const value = await unpickleWithMargin("short", 1.5);
    assert.ok(value instanceof Map && value.size === 20_000);
  });

  it("reads a Llama-2-70B-shaped state dict (723 tensors, real shapes) well within its budget", async () => {
    const m = await openTorchFile(join(dir, "llama70b.pt"));
    assert.equal(m.tensors.length, 723);
    assert.deepEqual(m.tensors.find((t) => t.name === "model.layers.79.mlp.down_proj.weight")?.shape, [8192, 28672]);
    const value = await unpickleWithMargin("llama70b", 20);
    assert.ok(value instanceof Map && value.size === 723);
  });

  it("reads every strided view bit-exactly, as torch's .contiguous() bytes", async () => {
    const m = await openTorchFile(join(dir, "views.pt"));
    const names = ["every33", "transposed", "narrow", "rows", "expand", "expand_mid", "offset", "permuted", "bytes_cols"];
    assert.deepEqual(m.tensors.map((t) => t.name).sort(), [...names].sort());
    for (const t of m.tensors) {
      const want = await readFile(join(dir, "views", `${t.name}.bin`));
      for (const chunk of [CHUNK_SIZE, 4096]) {
        const got = await collect(t.chunks(chunk));
        assert.ok(got.equals(want), `${t.name} at chunk size ${chunk}`);
      }
    }
  });

  it("reads a 6 MB view of every 33rd element in few reads", async () => {
    const path = join(dir, "views.pt");
    const handle = await open(path, "r");
    try {
      const inner = fileAccess(handle, (await handle.stat()).size);
      const ck = await readTorchCheckpoint({ file: inner, fileName: "views.pt" });
      const v = ck.value instanceof Map ? ck.value.get("every33") : undefined;
      assert.ok(v !== undefined && isTorchTensor(v));
      const tensor = v as unknown as TorchTensor;
      assert.deepEqual([tensor.shape, tensor.stride, tensor.itemSize], [[1_572_864], [33], 4]);
      let reads = 0;
      const counting: RandomAccess = { size: inner.size, read: (p, n) => { reads++; return inner.read(p, n); } };
      const got = await collect(viewChunks({ path, tensor, chunkSize: CHUNK_SIZE, file: counting }));
      assert.ok(got.equals(await readFile(join(dir, "views", "every33.bin"))));
      assert.ok(reads > 0 && reads <= 32, `${reads} reads for a 6 MB view`);
    } finally {
      await handle.close();
    }
  });
});
