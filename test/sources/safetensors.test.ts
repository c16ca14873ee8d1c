import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { layoutTensors, serializeHeader } from "../../src/formats/safetensors/header.js";
import { serializeIndex } from "../../src/formats/safetensors/index-file.js";
import {
  isSafetensorsFolder,
  openSafetensorsFile,
  openSafetensorsFolder,
} from "../../src/sources/safetensors.js";
import type { TensorRef } from "../../src/sources/tensor-ref.js";
import { fixture, tempDir } from "../helpers.js";
import { fails } from "../formats/safetensors/build.js";

interface Expected {
  tensors: Array<{ name: string; dtype: string; shape: number[]; hex: string }>;
}

const SHARDED = fixture("safetensors", "sharded");
const S1 = "model-00001-of-00002.safetensors";
const S2 = "model-00002-of-00002.safetensors";

async function bytesOf(t: TensorRef, chunkSize = 8): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of t.chunks(chunkSize)) parts.push(Buffer.from(c));
  return Buffer.concat(parts).toString("hex");
}

async function expected(name: string): Promise<Expected> {
  return JSON.parse(await readFile(fixture("safetensors", name), "utf8")) as Expected;
}

/** Writes a safetensors file of U8 tensors (each `size` bytes of its index + 1). */
async function writeShard(path: string, tensors: Array<[string, number]>): Promise<void> {
  const entries = layoutTensors(tensors.map(([name, size]) => ({ name, dtype: "U8" as const, shape: [size], byteLength: size })));
  const header = serializeHeader(entries, { format: "pt" });
  const data = Buffer.concat(entries.map((e, i) => Buffer.alloc(e.end - e.begin, i + 1)));
  await writeFile(path, Buffer.concat([header, data]));
}

async function writeIndex(dir: string, map: Record<string, string>): Promise<void> {
  await writeFile(join(dir, "model.safetensors.index.json"), serializeIndex({ totalSize: 0, weightMap: map }));
}

async function inTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = await tempDir();
  try {
    await fn(dir);
  } finally {
    await cleanup();
  }
}

test("a bare safetensors file: its tensors in file order, exact bytes, and no carried files", async () => {
  const path = fixture("safetensors", "reference.safetensors");
  const model = await openSafetensorsFile(path);
  const want = await expected("reference.json");
  assert.equal(model.kind, "safetensors file");
  assert.equal(model.path, path);
  assert.equal(model.files.size, 0);
  assert.deepEqual(model.tensors.map((t) => t.name), want.tensors.map((t) => t.name));
  for (const [i, t] of model.tensors.entries()) {
    const w = want.tensors[i];
    assert.deepEqual({ dtype: t.dtype, shape: t.shape, byteLength: t.byteLength }, { dtype: w?.dtype, shape: w?.shape, byteLength: (w?.hex.length ?? 0) / 2 });
    assert.equal(t.origin, "reference.safetensors");
    assert.equal(await bytesOf(t, 16), w?.hex, t.name);
  }
  await model.close();
});

test("a sharded Hugging Face folder: shards in order, exact bytes, the small files carried", async () => {
  const model = await openSafetensorsFolder(SHARDED);
  const want = await expected("sharded.json");
  assert.equal(model.kind, "Hugging Face folder (safetensors)");
  assert.deepEqual(model.tensors.map((t) => t.name), want.tensors.map((t) => t.name));
  assert.deepEqual(model.tensors.map((t) => t.origin), [S1, S1, S1, S2, S2]);
  for (const [i, t] of model.tensors.entries()) assert.equal(await bytesOf(t, 24), want.tensors[i]?.hex, t.name);
  assert.deepEqual([...model.files], [
    "README.md", "chat_template.jinja", "config.json", "generation_config.json", "special_tokens_map.json",
    "tokenizer.json", "tokenizer_config.json",
  ].map((n) => [n, join(SHARDED, n)]));
  assert.deepEqual(model.notes, ["read 2 shards through model.safetensors.index.json"]);
});

test("a folder with model.safetensors and a config", async () => {
  await inTemp(async (dir) => {
    await writeShard(join(dir, "model.safetensors"), [["b", 2], ["a", 3]]);
    await writeFile(join(dir, "config.json"), "{}");
    const model = await openSafetensorsFolder(dir);
    assert.deepEqual(model.tensors.map((t) => [t.name, t.byteLength]), [["a", 3], ["b", 2]]);
    assert.equal(await bytesOf(model.tensors[1] as TensorRef), "0202");
    assert.deepEqual([...model.files.keys()], ["config.json"]);
    assert.ok(await isSafetensorsFolder(dir));
  });
});

test("isSafetensorsFolder: true for the sharded fixture, false for other folders, files and nothing", async () => {
  assert.equal(await isSafetensorsFolder(SHARDED), true);
  assert.equal(await isSafetensorsFolder(fixture("safetensors")), false);
  assert.equal(await isSafetensorsFolder(fixture("safetensors", "reference.safetensors")), false);
  assert.equal(await isSafetensorsFolder(fixture("safetensors", "no-such-folder")), false);
});

test("INDEX_MISSING_SHARD: the index names a shard that is not in the folder", async () => {
  await inTemp(async (dir) => {
    await writeShard(join(dir, S1), [["a", 1]]);
    await writeIndex(dir, { a: S1, b: S2 });
    await assert.rejects(openSafetensorsFolder(dir), fails("INDEX_MISSING_SHARD", S2, '"b"', "download or copy it"));
  });
});

test("INDEX_MISSING_TENSOR: the index lists a tensor its shard does not hold", async () => {
  await inTemp(async (dir) => {
    await writeShard(join(dir, S1), [["a", 1]]);
    await writeShard(join(dir, S2), [["b", 1]]);
    await writeIndex(dir, { a: S1, b: S2, c: S2 });
    await assert.rejects(openSafetensorsFolder(dir), fails("INDEX_MISSING_TENSOR", '"c"', S2));
  });
});

test("INDEX_MISMATCH: a shard holds a tensor the index does not list", async () => {
  await inTemp(async (dir) => {
    await writeShard(join(dir, S1), [["a", 1], ["extra", 2]]);
    await writeShard(join(dir, S2), [["b", 1]]);
    await writeIndex(dir, { a: S1, b: S2 });
    await assert.rejects(openSafetensorsFolder(dir), fails("INDEX_MISMATCH", 'does not list tensor "extra"', S1));
  });
});

test("INDEX_MISMATCH: the index points a tensor at another shard", async () => {
  await inTemp(async (dir) => {
    await writeShard(join(dir, S1), [["a", 1], ["c", 1]]);
    await writeShard(join(dir, S2), [["b", 1]]);
    await writeIndex(dir, { a: S2, b: S2, c: S1 });
    await assert.rejects(openSafetensorsFolder(dir), fails("INDEX_MISMATCH", `says tensor "a" is in ${S2}, but it is in ${S1}`));
  });
});

test("DUPLICATE_TENSOR: one tensor name in two shards", async () => {
  await inTemp(async (dir) => {
    await writeShard(join(dir, S1), [["a", 1], ["w", 2]]);
    await writeShard(join(dir, S2), [["b", 1], ["w", 2]]);
    await writeIndex(dir, { a: S1, b: S2, w: S1 });
    await assert.rejects(openSafetensorsFolder(dir), fails("DUPLICATE_TENSOR", '"w"', S1, S2));
  });
});

test("shards without an index are refused with a clear line", async () => {
  await inTemp(async (dir) => {
    await writeShard(join(dir, S1), [["a", 1]]);
    await writeShard(join(dir, S2), [["b", 1]]);
    assert.ok(await isSafetensorsFolder(dir));
    await assert.rejects(openSafetensorsFolder(dir), fails("NOT_FOUND", S1, S2, "no model.safetensors.index.json"));
  });
});

test("a .safetensors file the index does not name is refused, not ignored", async () => {
  await inTemp(async (dir) => {
    await writeShard(join(dir, S1), [["a", 1]]);
    await writeShard(join(dir, "model.safetensors"), [["a", 1]]);
    await writeIndex(dir, { a: S1 });
    await assert.rejects(openSafetensorsFolder(dir), fails("INDEX_MISMATCH", "does not name model.safetensors", "move it out"));
  });
});

test("model.safetensors beside other .safetensors files without an index is refused", async () => {
  await inTemp(async (dir) => {
    await writeShard(join(dir, "model.safetensors"), [["a", 1]]);
    await writeShard(join(dir, "model_1.safetensors"), [["a", 1]]);
    await assert.rejects(openSafetensorsFolder(dir), fails("INDEX_MISMATCH", "model_1.safetensors", "move the extra files"));
  });
});

test("a folder with no safetensors weights, and a folder that does not exist", async () => {
  await inTemp(async (dir) => {
    await writeFile(join(dir, "config.json"), "{}");
    await assert.rejects(openSafetensorsFolder(dir), fails("UNKNOWN_SOURCE", dir, "not a safetensors model folder"));
    await writeShard(join(dir, "adapter_model.safetensors"), [["a", 1]]);
    await assert.rejects(openSafetensorsFolder(dir), fails("UNKNOWN_SOURCE", "it holds adapter_model.safetensors"));
    const missing = join(dir, "missing");
    await assert.rejects(openSafetensorsFolder(missing), fails("NOT_FOUND", missing, "no such folder"));
  });
});

test("a damaged shard is reported with its own path", async () => {
  await inTemp(async (dir) => {
    await writeShard(join(dir, S1), [["a", 1]]);
    await writeShard(join(dir, S2), [["b", 4]]);
    const full = await readFile(join(dir, S2));
    await writeFile(join(dir, S2), full.subarray(0, full.length - 2));
    await writeIndex(dir, { a: S1, b: S2 });
    await assert.rejects(openSafetensorsFolder(dir), fails("ST_TRUNCATED", join(dir, S2), "re-download"));
  });
});

test("the index's total_size is checked against the shards and a difference noted", async () => {
  await inTemp(async (dir) => {
    await mkdir(join(dir, "sub"));
    await writeShard(join(dir, S1), [["a", 3]]);
    await writeShard(join(dir, S2), [["b", 4]]);
    await writeFile(join(dir, "model.safetensors.index.json"), serializeIndex({ totalSize: 9, weightMap: { a: S1, b: S2 } }));
    const model = await openSafetensorsFolder(dir);
    assert.ok(model.notes.includes("model.safetensors.index.json gives total_size 9, but the shards hold 7 bytes of tensors"));
  });
});
