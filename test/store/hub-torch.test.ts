/**
 * A PyTorch checkpoint written by real torch.save, read in place on the Hub double through the store: the zip's
 * end records and central directory, data.pkl (restricted unpickler) and tensor bytes come by ranges, bit-identical
 * to the file, in a handful of requests and far fewer bytes than the file.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { readTorchCheckpoint } from "../../src/formats/torch/checkpoint.js";
import { isTorchTensor } from "../../src/formats/torch/rebuild.js";
import type { PickleValue } from "../../src/formats/pickle/values.js";
import { openStore } from "../../src/store/open-store.js";
import { startHubDouble } from "../support/hub-double.js";
import { repoRoot, tempDir } from "../helpers.js";
import { hubEnv } from "./hub-repo-fixture.js";

const PYTHON = process.env["TRUECAST_TORCH_PYTHON"] ?? "/usr/bin/python3";
const HAS_TORCH = spawnSync(PYTHON, ["-c", "import torch"]).status === 0;

test("a remote pytorch_model.bin: structure from a few ranged reads, tensor bytes identical", { skip: HAS_TORCH ? false : `${PYTHON} cannot import torch` }, async () => {
  const { dir, cleanup } = await tempDir();
  const d = await startHubDouble();
  try {
    const py = spawnSync(PYTHON, [join(repoRoot(), "test", "store", "remote_torch.py"), dir], { encoding: "utf8" });
    assert.equal(py.status, 0, py.stderr);
    const bytes = await readFile(join(dir, "pytorch_model.bin"));
    await d.state.seed("acme/bin", { "pytorch_model.bin": bytes });
    const store = await openStore("hf://acme/bin", { env: await hubEnv(d) });
    const file = await store.open("pytorch_model.bin");
    const before = store.stats();
    const ckpt = await readTorchCheckpoint({ file, fileName: "pytorch_model.bin" });
    const structure = { requests: store.stats().requests - before.requests, bytes: store.stats().bytesRead - before.bytesRead };
    assert.ok(ckpt.value instanceof Map);
    const tensors = [...(ckpt.value as Map<string, PickleValue>)].flatMap(([k, v]) => (isTorchTensor(v) ? [[k, v] as const] : []));
    assert.equal(tensors.length, 8);
    // First block (head, data.pkl, the first records), last block (end record, central directory), and one short
    // read per local header that lies in neither: 6 records of 256 KiB apart.
    assert.ok(structure.requests <= 8, `${structure.requests} requests for the structure`);
    assert.ok(structure.bytes < bytes.length / 2, `${structure.bytes} bytes of ${bytes.length} for the structure`);
    for (const [name, t] of tensors) {
      const { byteOffset, byteLength } = t.storage;
      assert.deepEqual(Buffer.from(await file.read(byteOffset, byteLength)), bytes.subarray(byteOffset, byteOffset + byteLength), name);
    }
    assert.ok(d.requests.filter((r) => r.server === "storage").every((r) => r.headers.range !== undefined), "every read was ranged");
  } finally {
    await d.stop();
    await cleanup();
  }
});
