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

  it("reads a 100,000-tensor state dict, whose pickle needs under a third of its budget", async () => {
    const m = await openTorchFile(join(dir, "many.pt"));
    assert.equal(m.tensors.length, 100_001);
    assert.deepEqual(m.tensors.at(-1)?.shape, [3, 2]);
    const handle = await open(join(dir, "many.pt"), "r");
    try {
      const file = fileAccess(handle, (await handle.stat()).size);
      const { entries } = await readZipDirectory({ file, fileName: "many.pt" });
      const { offset, length } = storedRange("many.pt", entries.get("many/data.pkl") ?? assert.fail("no data.pkl"));
      const bytes = await file.read(offset, length);
      const full = budgetLimits(bytes.length);
      const third = { ...full, heapBytes: Math.floor(full.heapBytes / 3), memoEntries: Math.floor(full.memoEntries / 3) };
      const hooks = torchHooks({ fileName: "many.pt", locate: (key) => {
        const e = entries.get(`many/data/${key}`);
        return e === undefined ? null : { byteOffset: storedRange("many.pt", e).offset, byteLength: Number(e.uncompressedSize) };
      } });
      const value = unpickle({ bytes, fileName: "many.pt", hooks, limits: third });
      assert.ok(value instanceof Map && value.size === 100_001);
    } finally {
      await handle.close();
    }
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
