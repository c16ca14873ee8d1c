/**
 * The scale benchmark's pickle form (bench/scale-model.ts, format "bin") against real PyTorch: a small generated
 * model's shards are torch.save's own bytes (PyTorch re-saves what it loaded to the same bytes, when the shard is
 * written without the byteorder record that torch 1.13 does not write), every record's CRC-32 is true, and
 * `torch.load(..., weights_only=True)` gives the tensors truecast reads; and truecast's export of the pickle form
 * holds, tensor by tensor, the bytes of the safetensors form of the same model. At full size (the 70B shape's 9 GB
 * shards, and a 10.6 GB one whose storages are ≥ 4 GiB and lie past 4 GiB) the ZIP64 layout is checked without
 * generating the data: the materialised parts are written into a sparse file, which Python's zipfile, PyTorch's own
 * archive reader (PyTorchFileReader, CRC-checked reads of data.pkl and version) and truecast's reader must all parse
 * to the same records.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, open, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { generateModel, shardChunks, type GeneratedShard, type LlamaShape } from "../../bench/scale-model.js";
import { readTorchCheckpoint } from "../../src/formats/torch/checkpoint.js";
import { isTorchTensor } from "../../src/formats/torch/rebuild.js";
import { fileAccess, readZipDirectory } from "../../src/formats/zip.js";
import { openSource } from "../../src/sources/open.js";
import { readAll, type Tensor } from "../support/read-tensors.js";
import { cli } from "../support/cli.js";
import { tempDir } from "../helpers.js";

const PYTHON = process.env["TRUECAST_TORCH_PYTHON"] ?? "/usr/bin/python3";
const HAS_TORCH = spawnSync(PYTHON, ["-c", "import torch"]).status === 0;
const SHAPE = { layers: 2, hidden: 64, intermediate: 128, heads: 4, kvHeads: 2, vocab: 100, shards: 2 };

/** For each shard given: CRCs checked by zipfile, tensors by torch.load(weights_only=True), and whether re-saving gives the same bytes. */
const LOADER = `
import hashlib, json, os, sys, zipfile, torch
out = {}
for path in sys.argv[2:]:
    bad = zipfile.ZipFile(path).testzip()
    sd = torch.load(path, weights_only=True)
    again = os.path.join(sys.argv[1], os.path.basename(path))
    torch.save(sd, again)
    with open(path, "rb") as a, open(again, "rb") as b:
        same = a.read() == b.read()
    tensors = {k: {"dtype": str(t.dtype), "shape": list(t.shape), "sha256": hashlib.sha256(t.contiguous().view(torch.int16).numpy().tobytes()).hexdigest()} for k, t in sd.items()}
    out[os.path.basename(path)] = {"badCrc": bad, "type": type(sd).__name__, "resavedSame": same, "tensors": tensors}
print(json.dumps(out))
`;

/** A full-size shard's records as Python's zipfile and PyTorch's archive reader see them (a sparse file: data not read). */
const SPARSE_READER = `
import json, struct, sys, zipfile, torch
path = sys.argv[1]
recs = []
with open(path, "rb") as f:
    for i in zipfile.ZipFile(path).infolist():
        f.seek(i.header_offset)
        h = f.read(30)
        n, e = struct.unpack("<HH", h[26:30])
        recs.append({"name": i.filename, "dataOffset": i.header_offset + 30 + n + e, "size": i.file_size, "crc": i.CRC})
r = torch._C.PyTorchFileReader(path)
pkl = r.get_record("data.pkl")
version = r.get_record("version")
print(json.dumps({"records": recs, "torchRecords": sorted(r.get_all_records()), "pklBytes": len(pkl), "version": bytes(version).decode()}))
`;

/** The shard's materialised parts written at their offsets into a sparse file of the shard's size. */
async function writeSparse(path: string, shard: GeneratedShard): Promise<void> {
  const fh = await open(path, "w");
  try {
    for (const seg of shard.segments) if ("bytes" in seg) await fh.write(seg.bytes, 0, seg.length, seg.at);
    await fh.truncate(shard.size);
  } finally {
    await fh.close();
  }
}

interface Loaded {
  badCrc: string | null;
  type: string;
  resavedSame: boolean;
  tensors: Record<string, { dtype: string; shape: number[]; sha256: string }>;
}

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

async function writeModel(dir: string, format: "bin" | "safetensors", byteorder = true): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const m = generateModel(SHAPE, { format, byteorder });
  for (const s of m.shards) await writeFile(join(dir, s.name), Buffer.concat([...shardChunks(s, 0, s.size)]));
  for (const [name, bytes] of Object.entries(m.small)) await writeFile(join(dir, name), bytes);
  return m.shards.map((s) => join(dir, s.name));
}

function sameTensors(got: Map<string, Tensor>, want: Map<string, Tensor>, what: string): void {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `${what}: tensor names`);
  for (const [name, w] of want) {
    const g = got.get(name);
    assert.ok(g);
    assert.deepEqual([g.dtype, [...g.shape]], [w.dtype, [...w.shape]], `${what}: ${name}`);
    assert.equal(sha256(g.bytes), sha256(w.bytes), `${what}: bytes of ${name}`);
  }
}

describe("the scale model in pickle form, read by PyTorch", { skip: HAS_TORCH ? false : `${PYTHON} cannot import torch` }, () => {
  let dir = "";
  let cleanup = async (): Promise<void> => {};
  let loaded: Record<string, Loaded> = {};
  let torch113: Record<string, Loaded> = {};
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const load = async (sub: string, byteorder: boolean): Promise<Record<string, Loaded>> => {
      const shards = await writeModel(join(dir, sub), "bin", byteorder);
      await mkdir(join(dir, `${sub}-resaved`));
      const py = spawnSync(PYTHON, ["-c", LOADER, join(dir, `${sub}-resaved`), ...shards], { encoding: "utf8" });
      assert.equal(py.status, 0, py.stderr);
      return JSON.parse(py.stdout) as Record<string, Loaded>;
    };
    loaded = await load("bin", true);
    torch113 = await load("bin-no-byteorder", false);
    await writeModel(join(dir, "st"), "safetensors");
  });
  after(() => cleanup());

  it("is what torch.save writes: true CRC-32s, and PyTorch re-saves what it loaded to the same bytes", () => {
    assert.deepEqual(Object.keys(torch113), ["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"]);
    for (const [name, l] of [...Object.entries(loaded), ...Object.entries(torch113)]) {
      assert.equal(l.badCrc, null, name);
      assert.equal(l.type, "dict", name);
    }
    for (const [name, l] of Object.entries(torch113)) assert.equal(l.resavedSame, true, `${name}: re-saved by PyTorch to other bytes`);
  });

  it("torch.load(weights_only=True) gives the tensors truecast reads, which are the safetensors form's", async () => {
    const ours = await readAll(await openSource(join(dir, "bin")));
    const theirs = Object.assign({}, ...Object.values(loaded).map((l) => l.tensors)) as Loaded["tensors"];
    assert.equal(ours.size, 3 + 9 * SHAPE.layers);
    assert.deepEqual([...ours.keys()].sort(), Object.keys(theirs).sort());
    for (const [name, t] of ours) {
      const p = theirs[name];
      assert.ok(p);
      assert.deepEqual([t.dtype, [...t.shape], sha256(t.bytes)], ["BF16", p.shape, p.sha256], name);
      assert.equal(p.dtype, "torch.bfloat16");
    }
    sameTensors(ours, await readAll(await openSource(join(dir, "st"))), "pickle form vs safetensors form");
  });

  it("truecast's export of the pickle form holds the safetensors form's tensors byte for byte", async () => {
    const out = join(dir, "out");
    const r = await cli(["export", join(dir, "bin"), out, "--quiet"]);
    assert.equal(r.code, 0, r.stderr);
    sameTensors(await readAll(await openSource(out)), await readAll(await openSource(join(dir, "st"))), "export of the pickle form");
  });

  it("full-size shards: ZIP64 records past 4 GiB and of 4 GiB or more read the same in zipfile, PyTorch's reader and truecast", async () => {
    const llama70b: LlamaShape = { layers: 80, hidden: 8192, intermediate: 28672, heads: 64, kvHeads: 8, vocab: 32000, shards: 15 };
    const huge: LlamaShape = { layers: 1, hidden: 8192, intermediate: 28672, heads: 64, kvHeads: 8, vocab: 270_000, shards: 1 };
    const m70 = generateModel(llama70b, { format: "bin" });
    const cases = [m70.shards[0], m70.shards[14], generateModel(huge, { format: "bin" }).shards[0]];
    for (const shard of cases) {
      assert.ok(shard);
      assert.ok(shard.size > 2 ** 33, `${shard.name}: ${shard.size} bytes`);
      const path = join(dir, `sparse-${shard.name}`);
      await writeSparse(path, shard);
      const py = spawnSync(PYTHON, ["-c", SPARSE_READER, path], { encoding: "utf8", maxBuffer: 2 ** 26 });
      assert.equal(py.status, 0, py.stderr);
      const seen = JSON.parse(py.stdout) as { records: Array<{ name: string; dataOffset: number; size: number; crc: number }>; torchRecords: string[]; pklBytes: number; version: string };
      assert.equal(seen.version, "3\n");
      const prefix = shard.name.replace(/\.bin$/, "");
      assert.equal(seen.torchRecords.length, shard.tensors.length + 3);
      const handle = await open(path, "r");
      try {
        const file = fileAccess(handle, shard.size);
        const { entries } = await readZipDirectory({ file, fileName: shard.name });
        assert.deepEqual(seen.records.map((r) => r.name).sort(), [...entries.keys()].sort());
        for (const r of seen.records) {
          const e = entries.get(r.name);
          assert.ok(e);
          assert.deepEqual([e.dataOffset, Number(e.uncompressedSize)], [r.dataOffset, r.size], r.name);
          if (r.name.startsWith(`${prefix}/data/`)) {
            // Every storage is a generated range that starts where the archive says its data starts.
            assert.ok(shard.segments.some((s) => "from" in s && s.at === r.dataOffset && s.length === r.size), r.name);
          }
        }
        assert.ok(seen.records.some((r) => r.dataOffset >= 2 ** 32), "a record lies past 4 GiB");
        if (shard === cases[2]) assert.ok(seen.records.some((r) => r.size >= 2 ** 32 && r.dataOffset >= 2 ** 32), "a record of ≥ 4 GiB lies past 4 GiB");
        const ck = await readTorchCheckpoint({ file, fileName: shard.name });
        assert.ok(ck.value instanceof Map);
        assert.deepEqual([...ck.value.keys()], shard.tensors);
        for (const [key, t] of ck.value) {
          const name = String(key);
          assert.ok(isTorchTensor(t), name);
          assert.equal(t.dtype, "BF16");
          assert.ok(shard.segments.some((s) => "from" in s && s.at === t.storage.byteOffset && s.length === t.storage.byteLength), name);
        }
      } finally {
        await handle.close();
      }
    }
  });
});
