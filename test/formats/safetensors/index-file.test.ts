import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  isPlainFileName,
  parseIndex,
  pythonString,
  readIndexFile,
  serializeIndex,
} from "../../../src/formats/safetensors/index-file.js";
import { fixture, tempDir } from "../../helpers.js";
import { fails } from "./build.js";

const INDEX = fixture("safetensors", "sharded", "model.safetensors.index.json");
const F = "model.safetensors.index.json";
const S1 = "model-00001-of-00002.safetensors";
const S2 = "model-00002-of-00002.safetensors";

test("reads an index written as transformers writes it", async () => {
  const index = await readIndexFile(INDEX);
  assert.equal(index.totalSize, 240);
  assert.deepEqual([...index.weightMap], [
    ["lm_head.weight", S2],
    ["model.embed_tokens.weight", S1],
    ["model.layers.0.mlp.down_proj.weight", S2],
    ["model.layers.0.mlp.up_proj.weight", S1],
    ["model.norm.\u00e9cart", S1],
  ]);
  assert.deepEqual(index.shards, [S1, S2]);
});

test("serializeIndex reproduces Python's json.dumps(indent=2, sort_keys=True) + newline byte for byte", async () => {
  const expected = await readFile(INDEX, "utf8");
  const index = await readIndexFile(INDEX);
  const scrambled = new Map([...index.weightMap].reverse());
  assert.equal(serializeIndex({ totalSize: 240, weightMap: scrambled }), expected);
  assert.equal(serializeIndex({ totalSize: 240, weightMap: Object.fromEntries(index.weightMap) }), expected);
});

test("serializeIndex sorts extra metadata with total_size, and writes an empty map as {}", () => {
  assert.equal(
    serializeIndex({ totalSize: 0, weightMap: {}, extraMetadata: { total_parameters: 7 } }),
    '{\n  "metadata": {\n    "total_parameters": 7,\n    "total_size": 0\n  },\n  "weight_map": {}\n}\n',
  );
});

test("pythonString escapes as Python's ensure_ascii does", () => {
  assert.equal(pythonString('a"b\\c/\b\f\n\r\t\x01\x7f\u00e9\ud83d\ude00~'), '"a\\"b\\\\c/\\b\\f\\n\\r\\t\\u0001\\u007f\\u00e9\\ud83d\\ude00~"');
});

test("an index without metadata has a null total size", () => {
  const index = parseIndex({ text: '{"weight_map":{"w":"a.safetensors"}}', file: F });
  assert.equal(index.totalSize, null);
  assert.deepEqual(index.shards, ["a.safetensors"]);
});

test("INDEX_INVALID: not JSON, not an object, duplicate keys", () => {
  assert.throws(() => parseIndex({ text: "{", file: F }), fails("INDEX_INVALID", F, "not valid JSON"));
  assert.throws(() => parseIndex({ text: "[]", file: F }), fails("INDEX_INVALID", "not a JSON object"));
  assert.throws(
    () => parseIndex({ text: '{"weight_map":{"w":"a.safetensors","w":"b.safetensors"}}', file: F }),
    fails("INDEX_INVALID", '"w" appears twice', "weight_map"),
  );
});

test("INDEX_INVALID: a missing or mistyped weight_map or metadata", () => {
  const cases: Array<[string, string]> = [
    ['{"metadata":{"total_size":1}}', 'no "weight_map"'],
    ['{"weight_map":[]}', '"weight_map" is not an object'],
    ['{"weight_map":{"w":1}}', 'tensor "w" maps to a number'],
    ['{"metadata":[],"weight_map":{}}', '"metadata" is not an object'],
    ['{"metadata":{"total_size":-1},"weight_map":{}}', "total_size"],
    ['{"metadata":{"total_size":1.5},"weight_map":{}}', "total_size"],
    ['{"metadata":{"total_size":"1"},"weight_map":{}}', "total_size"],
  ];
  for (const [text, part] of cases) assert.throws(() => parseIndex({ text, file: F }), fails("INDEX_INVALID", F, part), text);
});

test("INDEX_INVALID: shard names that are not plain file names in the folder", () => {
  for (const shard of ["../model.safetensors", "sub/model.safetensors", "..", ".", "", "a\\b.safetensors", "/etc/passwd"]) {
    const text = JSON.stringify({ weight_map: { w: shard } });
    assert.throws(() => parseIndex({ text, file: F }), fails("INDEX_INVALID", "not a plain file name"), shard);
  }
  assert.ok(isPlainFileName("model-00001-of-00002.safetensors"));
});

test("readIndexFile: NOT_FOUND for a missing index, INDEX_INVALID for non-UTF-8 bytes", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const missing = join(dir, F);
    await assert.rejects(readIndexFile(missing), fails("NOT_FOUND", missing));
    await writeFile(missing, new Uint8Array([0x7b, 0xff, 0x7d]));
    await assert.rejects(readIndexFile(missing), fails("INDEX_INVALID", "UTF-8"));
  } finally {
    await cleanup();
  }
});
