/**
 * The scale benchmark's pickle form (bench/scale-model.ts, format "bin") against real PyTorch: a small generated
 * model's shards are torch.save's own bytes (PyTorch re-saves what it loaded to the same bytes, when the shard is
 * written without the byteorder record that torch 1.13 does not write), every record's CRC-32 is true, and
 * `torch.load(..., weights_only=True)` gives the tensors truecast reads; and truecast's export of the pickle form
 * holds, tensor by tensor, the bytes of the safetensors form of the same model.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { generateModel, shardChunks } from "../../bench/scale-model.js";
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
});
