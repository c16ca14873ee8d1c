/**
 * Very wide strided views written by real PyTorch at test time (wide_views.py beside this file): a transpose whose
 * storage span is far over the span bound, with tiles of a few bytes, is read in about span / window reads of its
 * storage and about its span in bytes (tile by tile it took a read per tile: ~680,000 reads of 112 bytes for the
 * 72 MiB view at a 1 MiB bound), bit-identical to torch's `.contiguous()`, also through an export, which lends its
 * staging folder for the scratch file and leaves nothing of it behind; read from a Hub repo, a request per window
 * (tile by tile it was a request per few tiles).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, open, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { exportModel } from "../../../src/export/export.js";
import { readTorchCheckpoint } from "../../../src/formats/torch/checkpoint.js";
import { isTorchTensor, type TorchTensor } from "../../../src/formats/torch/rebuild.js";
import { viewChunks } from "../../../src/formats/torch/read-view.js";
import { fileAccess, type RandomAccess } from "../../../src/formats/zip.js";
import { counting } from "./counting-access.js";
import { openSafetensorsFolder } from "../../../src/sources/safetensors.js";
import { openStore } from "../../../src/store/open-store.js";
import { repoRoot, tempDir } from "../../helpers.js";
import { startHubDouble } from "../../support/hub-double.js";
import { hubEnv } from "../../store/hub-repo-fixture.js";

const PYTHON = process.env["TRUECAST_TORCH_PYTHON"] ?? "/usr/bin/python3";
const HAS_TORCH = spawnSync(PYTHON, ["-c", "import torch"]).status === 0;
const NAMES = ["wide_t", "shared_t", "shared_slice_t", "bytes_t", "doubles_t", "permuted"];

function spanOf(t: TorchTensor): number {
  return t.shape.reduce((e, n, d) => e + (n - 1) * (t.stride[d] ?? 0), 1) * t.itemSize;
}

describe("very wide strided views", { skip: HAS_TORCH ? false : `${PYTHON} cannot import torch` }, () => {
  let dir = "";
  let cleanup = async (): Promise<void> => {};
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const py = spawnSync(PYTHON, [join(repoRoot(), "test", "formats", "torch", "wide_views.py"), dir], { encoding: "utf8" });
    assert.equal(py.status, 0, py.stderr);
    await mkdir(join(dir, "scratch"));
  });
  after(() => cleanup());

  it("read their span once in window-sized reads, bit-identically, through a scratch file", async () => {
    const path = join(dir, "wide.pt");
    const scratchDir = join(dir, "scratch");
    const handle = await open(path, "r");
    try {
      const inner = fileAccess(handle, (await handle.stat()).size);
      const ck = await readTorchCheckpoint({ file: inner, fileName: "wide.pt" });
      assert.ok(ck.value instanceof Map);
      const views = new Map([...ck.value].map(([k, v]) => [k as string, (isTorchTensor(v) ? v : assert.fail(`${String(k)}: not a tensor`)) as unknown as TorchTensor]));
      assert.deepEqual([...views.keys()].sort(), [...NAMES].sort());
      const shared = [views.get("shared_t"), views.get("shared_slice_t")].map((t) => t?.storage.key);
      assert.equal(shared[0], shared[1], "the two shared views read one storage");
      const wide = views.get("wide_t") ?? assert.fail("no wide_t");
      assert.deepEqual([wide.shape, wide.stride, wide.itemSize], [[2048, 9216], [1, 2048], 4]);
      for (const [name, tensor] of views) {
        const span = spanOf(tensor);
        const spanBytes = 1024 * 1024;
        const windowBytes = 1024 * 1024 + 24; // not a multiple of a row nor of a page
        assert.ok(span > 2 * spanBytes, `${name}: a span of ${span} bytes`);
        const file = counting(inner);
        const chunkSize = 1024 * 1024;
        const parts: Uint8Array[] = [];
        for await (const c of viewChunks({ path, tensor, chunkSize, file, spanBytes, windowBytes, scratchDir })) parts.push(c);
        assert.ok(Buffer.concat(parts).equals(await readFile(join(dir, "wide", `${name}.bin`))), `${name}: bytes differ from torch's .contiguous()`);
        const window = Math.floor(windowBytes / tensor.itemSize) * tensor.itemSize;
        assert.equal(file.reads, Math.ceil(span / window), `${name}: ${file.reads} reads of a ${span}-byte span`);
        assert.equal(file.bytes, span, `${name}: ${file.bytes} bytes read of a ${span}-byte span`);
        assert.ok(file.largest <= window, `${name}: a read of ${file.largest} bytes`);
        assert.deepEqual(await readdir(scratchDir), [], `${name}: the scratch file is gone`);
      }
    } finally {
      await handle.close();
    }
  });

  it("read from a Hub repo in a request per window", async () => {
    const d = await startHubDouble();
    try {
      await d.state.seed("acme/wide", { "small.pt": await readFile(join(dir, "small.pt")) });
      const store = await openStore("hf://acme/wide", { env: await hubEnv(d) });
      const file = await store.open("small.pt");
      const ck = await readTorchCheckpoint({ file, fileName: "small.pt" });
      assert.ok(ck.value instanceof Map);
      const scratchDir = join(dir, "scratch");
      for (const [name, v] of ck.value) {
        const tensor = (isTorchTensor(v) ? v : assert.fail(`${String(name)}: not a tensor`)) as unknown as TorchTensor;
        const windowBytes = 1024 * 1024;
        const before = store.stats();
        const parts: Uint8Array[] = [];
        for await (const c of viewChunks({ path: "small.pt", tensor, chunkSize: 1024 * 1024, file, spanBytes: 1024 * 1024, windowBytes, scratchDir })) parts.push(c);
        assert.ok(Buffer.concat(parts).equals(await readFile(join(dir, "wide", `${String(name)}.bin`))), `${String(name)}: bytes differ from torch's .contiguous()`);
        const requests = store.stats().requests - before.requests;
        assert.ok(requests <= Math.ceil(spanOf(tensor) / windowBytes) + 1, `${String(name)}: ${requests} requests for a span of ${spanOf(tensor)} bytes`);
      }
      await store.close();
    } finally {
      await d.stop();
    }
  });

  it("export as torch's .contiguous() bytes, the 72 MiB view made beside the shards, nothing of it left", async () => {
    const out = join(dir, "out");
    const report = await exportModel({ source: join(dir, "wide.pt"), out, modelCard: false });
    assert.equal(report.tensorCount, NAMES.length);
    const m = await openSafetensorsFolder(out);
    try {
      for (const t of m.tensors) {
        const parts: Uint8Array[] = [];
        for await (const c of t.chunks(8 * 1024 * 1024)) parts.push(c);
        assert.ok(Buffer.concat(parts).equals(await readFile(join(dir, "wide", `${t.name}.bin`))), `${t.name}: bytes differ from torch's .contiguous()`);
      }
      assert.deepEqual(m.tensors.map((t) => t.name).sort(), [...NAMES].sort());
    } finally {
      await m.close();
    }
    assert.deepEqual((await readdir(out)).filter((n) => !/^(model\.safetensors|truecast-report\.json)$/.test(n)), []);
    assert.deepEqual((await readdir(dir)).filter((n) => !["out", "scratch", "small.pt", "wide", "wide.pt"].includes(n)), [], "no staging folder nor scratch file left");
  });
});
