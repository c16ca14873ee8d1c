import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { exportModel } from "../../src/export/export.js";
import { openSafetensorsFolder } from "../../src/sources/safetensors.js";
import type { SourceModel, TensorRef } from "../../src/sources/tensor-ref.js";
import { tempDir } from "../helpers.js";
import { bf16, bf16Weights, f32, randomBytes, u16, writeModelFolder, type TestTensor } from "../support/build-model.js";

async function tensorBytes(dir: string): Promise<Map<string, Buffer>> {
  const model = await openSafetensorsFolder(dir);
  const out = new Map<string, Buffer>();
  for (const t of model.tensors) {
    const parts: Uint8Array[] = [];
    for await (const c of t.chunks(64)) parts.push(c);
    out.set(t.name, Buffer.concat(parts));
  }
  await model.close();
  return out;
}

const CONFIG = { architectures: ["LlamaForCausalLM"], hidden_size: 8, torch_dtype: "float16", vocab_size: 4 };

function modelTensors(): TestTensor[] {
  return [
    { name: "model.embed_tokens.weight", dtype: "BF16", shape: [4, 8], data: bf16Weights(32, 1) },
    { name: "model.layers.0.mlp.up_proj.weight", dtype: "BF16", shape: [16, 8], data: bf16Weights(128, 2) },
    { name: "model.layers.0.mlp.down_proj.weight", dtype: "BF16", shape: [8, 16], data: bf16Weights(128, 3) },
    { name: "model.norm.weight", dtype: "F32", shape: [8], data: f32([1, 1, 1, 1, 0.5, 0.5, 2, 2]) },
    { name: "position_ids", dtype: "I64", shape: [4], data: randomBytes(32, 9) },
    { name: "scalar", dtype: "F32", shape: [], data: f32([3.5]) },
    { name: "empty", dtype: "BF16", shape: [0, 8], data: new Uint8Array(0) },
  ];
}

test("keep: every tensor is copied byte for byte, resharded, with an index and a truthful config.json", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, "src");
    await writeModelFolder(src, {
      tensors: modelTensors(),
      config: CONFIG,
      files: { "tokenizer.json": '{"version":"1.0"}', "generation_config.json": '{"bos_token_id": 1}\n', "pytorch_model.bin.index.json": "{}" },
    });
    const out = join(dir, "out");
    const report = await exportModel({ source: src, out, maxShardSize: 300 });
    assert.equal(report.tensorCount, 7);
    assert.equal(report.bitExact, 7);
    assert.equal(report.dtype, "BF16");
    assert.equal(report.mixedDtypes, true);
    assert.ok(report.shards.length >= 2);
    assert.equal(report.verified.tensors, 7);
    const names = (await readdir(out)).sort();
    assert.ok(names.includes("model.safetensors.index.json"));
    assert.ok(names.includes("tokenizer.json") && names.includes("generation_config.json"));
    assert.ok(!names.includes("pytorch_model.bin.index.json"), "stale weight indexes are not carried");
    assert.ok(!names.some((n) => n.startsWith(".")), "no staging folder left behind");
    // Bytes: identical to the source's, tensor by tensor.
    const before = await tensorBytes(src);
    const after = await tensorBytes(out);
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
    for (const [name, bytes] of before) assert.ok(bytes.equals(after.get(name) ?? Buffer.alloc(1)), name);
    // Small files unchanged; config.json states what was measured.
    assert.equal(await readFile(join(out, "generation_config.json"), "utf8"), '{"bos_token_id": 1}\n');
    const config = JSON.parse(await readFile(join(out, "config.json"), "utf8")) as Record<string, unknown>;
    assert.equal(config["torch_dtype"], "bfloat16");
    assert.equal(config["dtype"], "bfloat16");
    assert.deepEqual(report.config?.before, { torch_dtype: "float16" });
    const index = JSON.parse(await readFile(join(out, "model.safetensors.index.json"), "utf8")) as {
      metadata: { total_size: number };
      weight_map: Record<string, string>;
    };
    assert.equal(index.metadata.total_size, report.totalSize);
    assert.equal(Object.keys(index.weight_map).length, 7);
  } finally {
    await cleanup();
  }
});

test("--dtype float32 widens bfloat16 exactly and reports no change", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, "src");
    await writeModelFolder(src, { tensors: modelTensors(), config: CONFIG });
    const out = join(dir, "out");
    const report = await exportModel({ source: src, out, dtype: "F32" });
    assert.equal(report.dtype, "F32");
    assert.equal(report.mixedDtypes, false);
    const bf = report.conversions.find((c) => c.from === "BF16");
    assert.ok(bf);
    assert.equal(bf.changed, 0);
    assert.equal(bf.toInfinity, 0);
    const after = await tensorBytes(out);
    const up = after.get("model.layers.0.mlp.up_proj.weight");
    assert.ok(up);
    const src16 = new Uint16Array(bf16Weights(128, 2).buffer);
    const got = new Uint32Array(up.buffer, up.byteOffset, up.byteLength / 4);
    for (let i = 0; i < src16.length; i++) assert.equal(got[i], ((src16[i] ?? 0) << 16) >>> 0);
    assert.equal(after.get("position_ids")?.equals(Buffer.from(randomBytes(32, 9))), true, "ints are copied, never converted");
  } finally {
    await cleanup();
  }
});

test("a conversion that would overflow to infinity is refused, naming the tensor and count, and leaves nothing", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, "src");
    await writeModelFolder(src, {
      tensors: [
        { name: "ok", dtype: "BF16", shape: [2], data: bf16([1, 2]) },
        { name: "outliers", dtype: "BF16", shape: [4], data: bf16([98304, -131072, 65536, 1]) },
      ],
      config: CONFIG,
    });
    const out = join(dir, "out");
    await assert.rejects(exportModel({ source: src, out, dtype: "F16" }), (e: Error & { code?: string }) => {
      assert.equal(e.code, "OVERFLOW");
      assert.match(e.message, /"outliers"/);
      assert.match(e.message, /turn 3 finite values into infinity/);
      assert.match(e.message, /--allow-overflow/);
      return true;
    });
    assert.equal(existsSync(out), false);
    assert.deepEqual(await readdir(dir), ["src"], "the staging folder is removed");
    const allowed = await exportModel({ source: src, out, dtype: "F16", allowOverflow: true });
    assert.equal(allowed.conversions[0]?.toInfinity, 3);
    const bytes = await tensorBytes(out);
    assert.deepEqual([...new Uint16Array(new Uint8Array(bytes.get("outliers") ?? []).buffer)], [0x7c00, 0xfc00, 0x7c00, 0x3c00]);
  } finally {
    await cleanup();
  }
});

test("an existing non-empty output is refused without --force and replaced with it", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, "src");
    await writeModelFolder(src, { tensors: modelTensors(), config: CONFIG });
    const out = join(dir, "out");
    await mkdir(out);
    await writeFile(join(out, "precious.txt"), "keep me");
    await assert.rejects(exportModel({ source: src, out }), { code: "OUTPUT_EXISTS" });
    assert.equal(await readFile(join(out, "precious.txt"), "utf8"), "keep me");
    await exportModel({ source: src, out, force: true });
    assert.equal(existsSync(join(out, "precious.txt")), false);
    assert.ok(existsSync(join(out, "model.safetensors")));
    assert.deepEqual((await readdir(dir)).sort(), ["out", "src"]);
  } finally {
    await cleanup();
  }
});

test("an output inside the source folder is refused, even with --force", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeModelFolder(dir, { tensors: modelTensors(), config: CONFIG });
    await assert.rejects(exportModel({ source: dir, out: join(dir, "sub"), force: true }), { code: "OUTPUT_OVERLAP" });
    await assert.rejects(exportModel({ source: join(dir, "model.safetensors"), out: dir, force: true }), { code: "OUTPUT_OVERLAP" });
  } finally {
    await cleanup();
  }
});

test("a source that delivers the wrong number of bytes fails the export and leaves nothing", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const liar: TensorRef = {
      name: "w",
      dtype: "BF16",
      shape: [4],
      byteLength: 8,
      origin: "liar",
      async *chunks() {
        yield u16([1, 2, 3]);
      },
    };
    const model: SourceModel = { kind: "test", path: join(dir, "nowhere"), tensors: [liar], files: new Map(), notes: [], close: async () => {} };
    const out = join(dir, "out");
    await assert.rejects(exportModel({ source: "", model, out }), { code: "VERIFY_FAILED" });
    assert.equal(existsSync(out), false);
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await cleanup();
  }
});

test("a model without config.json exports without one; a single file source too", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, "src");
    await writeModelFolder(src, { tensors: modelTensors() });
    const out = join(dir, "out");
    const report = await exportModel({ source: join(src, "model.safetensors"), out });
    assert.equal(report.config, null);
    assert.deepEqual((await readdir(out)).sort(), ["README.md", "model.safetensors", "truecast-report.json"]);
    assert.equal(report.source.kind, "safetensors file");
  } finally {
    await cleanup();
  }
});

test("an export that does not fit the free space is refused before writing, naming the sizes", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, "src");
    await writeModelFolder(src, { tensors: modelTensors(), config: CONFIG });
    const out = join(dir, "out");
    await assert.rejects(exportModel({ source: src, out, freeBytes: async () => 1_000_000 }), (e: Error & { code?: string }) => {
      assert.equal(e.code, "NO_SPACE");
      assert.match(e.message, /^the export needs 16\.8 MB \([\d.]+ KB of files and 16\.8 MB of head-room\) but only 1\.0 MB is free where .*out goes; free some space or choose another output folder$/);
      return true;
    });
    assert.deepEqual(await readdir(dir), ["src"]);
    // Enough room (the planned bytes plus the safety margin): it goes ahead.
    const report = await exportModel({ source: src, out, freeBytes: async () => 64 * 1024 * 1024 });
    assert.equal(report.bitExact, 7);
  } finally {
    await cleanup();
  }
});
