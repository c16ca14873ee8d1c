import assert from "node:assert/strict";
import { cp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { TruecastError } from "../../src/errors.js";
import { openTorchFile, openTorchFolder } from "../../src/sources/torch.js";
import type { SourceModel, TensorRef } from "../../src/sources/tensor-ref.js";
import { fixture, tempDir } from "../helpers.js";

interface Expected {
  dtype: string;
  shape: number[];
  hex: string;
}

async function expectedOf(name: string): Promise<Record<string, Expected>> {
  return JSON.parse(await readFile(fixture("torch", name), "utf8")) as Record<string, Expected>;
}

async function bytesOf(t: TensorRef, chunkSize: number): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of t.chunks(chunkSize)) {
    assert.ok(c.length <= chunkSize, `${t.name}: chunk of ${c.length} > ${chunkSize}`);
    parts.push(Buffer.from(c));
  }
  const all = Buffer.concat(parts);
  assert.equal(all.length, t.byteLength, `${t.name}: byteLength`);
  return all.toString("hex");
}

/** Every tensor's dtype, shape and logical bytes equal what PyTorch wrote, at several chunk sizes. */
async function assertMatchesTorch(m: SourceModel, expected: Record<string, Expected>, names: string[]): Promise<void> {
  assert.deepEqual(m.tensors.map((t) => t.name), names);
  for (const t of m.tensors) {
    const want = expected[t.name];
    assert.ok(want !== undefined, `${t.name} expected`);
    assert.equal(t.dtype, want.dtype, t.name);
    assert.deepEqual(t.shape, want.shape, t.name);
    for (const chunkSize of [8, 64, 1 << 20]) assert.equal(await bytesOf(t, chunkSize), want.hex, `${t.name} at chunk ${chunkSize}`);
  }
}

async function refused(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TruecastError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

describe("PyTorch state dict files", () => {
  it("reads every storage dtype bit for bit, scalars and empty tensors included", async () => {
    const m = await openTorchFile(fixture("torch", "dtypes.pt"));
    assert.equal(m.kind, "PyTorch checkpoint");
    assert.deepEqual(m.tensors.map((t) => t.name), ["f32", "f16", "bf16", "f64", "i64", "i32", "i16", "i8", "u8", "bool", "c64", "scalar", "empty"]);
    await assertMatchesTorch(m, await expectedOf("dtypes.pt.expected.json"), m.tensors.map((t) => t.name));
    assert.deepEqual(m.notes, []);
    assert.equal(m.files.size, 0);
  });

  it("keeps bfloat16 special values (±0, ±inf, NaN payloads, subnormals, max) exactly", async () => {
    const m = await openTorchFile(fixture("torch", "bf16_special.pt"));
    await assertMatchesTorch(m, await expectedOf("bf16_special.pt.expected.json"), ["special"]);
  });

  it("writes views as their logical row-major contents and says how many", async () => {
    const m = await openTorchFile(fixture("torch", "views.pt"));
    const names = ["rows", "cols", "transpose", "flat_offset", "step", "expand", "bf16_t", "permute"];
    await assertMatchesTorch(m, await expectedOf("views.pt.expected.json"), names);
    assert.ok(m.notes.includes("views.pt: 8 tensors materialized from views (a storage offset, part of a storage, or strides)"), m.notes.join("\n"));
    await assertMatchesTorch(await openTorchFile(fixture("torch", "views_p4.pt")), await expectedOf("views_p4.pt.expected.json"), names);
  });

  it("writes tensors that share a storage each with its own bytes", async () => {
    const m = await openTorchFile(fixture("torch", "tied.pt"));
    await assertMatchesTorch(m, await expectedOf("tied.pt.expected.json"), ["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"]);
    assert.deepEqual(m.notes, ["tied.pt: 2 tensors share storage with another tensor; each is written with its own bytes"]);
  });

  it("leaves out the tied duplicate when the model ties word embeddings", async () => {
    const m = await openTorchFile(fixture("torch", "tied.pt"), { tieWordEmbeddings: true });
    await assertMatchesTorch(m, await expectedOf("tied.pt.expected.json"), ["model.embed_tokens.weight", "model.norm.weight"]);
    assert.deepEqual(m.notes, [
      "lm_head.weight left out: it shares its storage with model.embed_tokens.weight and the model ties word embeddings (tie_word_embeddings)",
    ]);
  });

  it('unwraps {"model": ...} and keeps H2O\'s backbone. keys for the H2O source to handle', async () => {
    const m = await openTorchFile(fixture("torch", "h2o_checkpoint.pth"));
    await assertMatchesTorch(m, await expectedOf("h2o_checkpoint.pth.expected.json"), [
      "backbone.model.embed_tokens.weight", "backbone.model.layers.0.mlp.up_proj.weight", "backbone.lm_head.weight",
    ]);
    assert.deepEqual(m.notes, ['h2o_checkpoint.pth: state dict read from key "model"']);
  });

  it('unwraps {"state_dict": ...}, strips module. and _orig_mod., skips training state, and counts each', async () => {
    const m = await openTorchFile(fixture("torch", "prefixed.pt"));
    await assertMatchesTorch(m, await expectedOf("prefixed.pt.expected.json"), ["weight", "bias", "extra", "plain"]);
    assert.deepEqual(m.notes, [
      'prefixed.pt: state dict read from key "state_dict"; 3 other entries skipped (epoch, name, optimizer)',
      'prefixed.pt: prefix "module." removed from 3 keys',
      'prefixed.pt: prefix "_orig_mod." removed from 2 keys',
    ]);
  });

  it("reads nn.Parameter values (_rebuild_parameter) and a ZIP64 archive", async () => {
    await assertMatchesTorch(await openTorchFile(fixture("torch", "parameters.pt")), await expectedOf("parameters.pt.expected.json"), ["weight", "bias"]);
    await assertMatchesTorch(await openTorchFile(fixture("torch", "zip64.pt")), await expectedOf("zip64.pt.expected.json"), ["a", "b"]);
  });

  it("refuses a dtype safetensors cannot store, naming the tensor", async () => {
    await refused(openTorchFile(fixture("torch", "complex128.pt")), "UNSUPPORTED_DTYPE", /^complex128\.pt: tensor "c128" is complex128, which safetensors cannot store/);
  });

  it("reads the legacy format (torch < 1.6), pickle protocols 2 and 4, views included", async () => {
    for (const file of ["legacy.pt", "legacy_p4.pt"]) {
      const m = await openTorchFile(fixture("torch", file));
      await assertMatchesTorch(m, await expectedOf(`${file}.expected.json`), ["w", "bf16", "cols", "i64", "flag"]);
      assert.equal(m.notes[0], `${file}: read in the legacy PyTorch format (torch < 1.6)`);
    }
  });

  it("refuses a whole pickled module, advising to save its state dict", async () => {
    await refused(openTorchFile(fixture("torch", "whole_module.pt")), "PICKLE_FORBIDDEN",
      /^whole_module\.pt wants to call torch\.nn\.modules\.linear\.Linear; refusing to load it \(.*save model\.state_dict\(\) with torch\.save instead\)$/);
  });

  it("refuses non-checkpoints with a clear line", async () => {
    await refused(openTorchFile(fixture("torch", "not_a_checkpoint.pt")), "TORCH_INVALID", /neither a PyTorch checkpoint/);
    await refused(openTorchFile(fixture("torch", "missing.pt")), "NOT_FOUND", /missing\.pt/);
  });
});

describe("Hugging Face folders with PyTorch weights", () => {
  it("reads shards through pytorch_model.bin.index.json and carries config.json", async () => {
    const m = await openTorchFolder(fixture("torch", "sharded"));
    assert.equal(m.kind, "Hugging Face folder (PyTorch)");
    await assertMatchesTorch(m, await expectedOf("sharded.expected.json"), [
      "model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.q_proj.weight", "lm_head.weight",
    ]);
    assert.deepEqual([...m.files.keys()], ["config.json"]);
    assert.deepEqual(m.notes, ["read 2 shards through pytorch_model.bin.index.json"]);
  });

  it("follows config.json's tie_word_embeddings for pytorch_model.bin", async () => {
    const m = await openTorchFolder(fixture("torch", "tied_folder"));
    assert.deepEqual(m.tensors.map((t) => t.name), ["model.embed_tokens.weight", "model.norm.weight"]);
    assert.match(m.notes.join("\n"), /lm_head\.weight left out/);
  });

  async function withShardCopy(edit: (dir: string) => Promise<void>, check: (dir: string) => Promise<void>): Promise<void> {
    const { dir, cleanup } = await tempDir();
    try {
      await cp(fixture("torch", "sharded"), dir, { recursive: true });
      await edit(dir);
      await check(dir);
    } finally {
      await cleanup();
    }
  }

  const INDEX = "pytorch_model.bin.index.json";
  const editIndex = async (dir: string, f: (map: Record<string, string>) => void): Promise<void> => {
    const index = JSON.parse(await readFile(join(dir, INDEX), "utf8")) as { weight_map: Record<string, string> };
    f(index.weight_map);
    await writeFile(join(dir, INDEX), JSON.stringify(index));
  };

  it("refuses an index naming a shard that is not there", async () => {
    await withShardCopy((d) => rm(join(d, "pytorch_model-00002-of-00002.bin")), (d) =>
      refused(openTorchFolder(d), "INDEX_MISSING_SHARD", /names shard pytorch_model-00002-of-00002\.bin \(for 2 tensors/));
  });

  it("refuses an index listing a tensor its shard lacks", async () => {
    await withShardCopy((d) => editIndex(d, (m) => { m["model.ghost.weight"] = "pytorch_model-00001-of-00002.bin"; }), (d) =>
      refused(openTorchFolder(d), "INDEX_MISSING_TENSOR", /lists tensor "model\.ghost\.weight" in pytorch_model-00001-of-00002\.bin, but/));
  });

  it("refuses an index that puts a tensor in the wrong shard, or omits it", async () => {
    await withShardCopy((d) => editIndex(d, (m) => { m["lm_head.weight"] = "pytorch_model-00001-of-00002.bin"; }), (d) =>
      refused(openTorchFolder(d), "INDEX_MISMATCH", /says tensor "lm_head\.weight" is in pytorch_model-00001-of-00002\.bin, but it is in pytorch_model-00002-of-00002\.bin/));
    await withShardCopy((d) => editIndex(d, (m) => { delete m["lm_head.weight"]; }), (d) =>
      refused(openTorchFolder(d), "INDEX_MISMATCH", /does not list tensor "lm_head\.weight"/));
  });

  it("refuses a shard file the index does not name", async () => {
    await withShardCopy((d) => cp(join(d, "pytorch_model-00002-of-00002.bin"), join(d, "pytorch_model-00003-of-00003.bin")), (d) =>
      refused(openTorchFolder(d), "INDEX_MISMATCH", /does not name pytorch_model-00003-of-00003\.bin/));
  });

  it("refuses a tensor present in two shards", async () => {
    await withShardCopy((d) => cp(join(d, "pytorch_model-00002-of-00002.bin"), join(d, "pytorch_model-00001-of-00002.bin")), (d) => refused(openTorchFolder(d), "DUPLICATE_TENSOR", /tensor "model\.layers\.1\.self_attn\.q_proj\.weight" is in both pytorch_model-00001-of-00002\.bin and pytorch_model-00002-of-00002\.bin/));
  });

  it("refuses a folder with shards but no index", async () => {
    await withShardCopy((d) => rm(join(d, INDEX)), (d) => refused(openTorchFolder(d), "NOT_FOUND", /no pytorch_model\.bin\.index\.json saying which tensors are where/));
  });
});
