import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, symlink, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  MAX_CARRIED_FILE_SIZE,
  collectModelFiles,
  isWeightFileName,
  scanModelFiles,
} from "../../src/sources/model-files.js";
import { tempDir } from "../helpers.js";
import { fails } from "../formats/safetensors/build.js";

async function inTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = await tempDir();
  try {
    await fn(dir);
  } finally {
    await cleanup();
  }
}

test("carries the small files of a folder and leaves weights, indexes, hidden files and folders", async () => {
  await inTemp(async (dir) => {
    const carried = [
      "LICENSE", "README.md", "added_tokens.json", "chat_template.jinja", "config.json", "generation_config.json",
      "merges.txt", "preprocessor_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer.model",
      "tokenizer_config.json", "vocab.json",
    ];
    const left = [
      "model.safetensors", "model-00001-of-00002.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
      "pytorch_model.bin.index.json", "training_args.bin", "optimizer.pt", "rng_state.pth", "last.ckpt", "tf_model.h5",
      "flax_model.msgpack", "model.gguf", "model.onnx", "model.onnx_data", "MODEL.SAFETENSORS", ".gitattributes",
    ];
    for (const n of [...carried, ...left]) await writeFile(join(dir, n), "x");
    await mkdir(join(dir, "onnx"));
    await writeFile(join(dir, "onnx", "config.json"), "{}");
    const files = await collectModelFiles(dir);
    assert.deepEqual([...files], carried.map((n) => [n, join(dir, n)]));
  });
});

test("follows symlinks, as in the Hub cache's snapshots, and skips broken ones with a reason", async () => {
  await inTemp(async (dir) => {
    await mkdir(join(dir, "blobs"));
    await mkdir(join(dir, "snap"));
    await writeFile(join(dir, "blobs", "abc"), "{}");
    await symlink("../blobs/abc", join(dir, "snap", "config.json"));
    await symlink("../blobs/missing", join(dir, "snap", "tokenizer.json"));
    const scan = await scanModelFiles(join(dir, "snap"));
    assert.deepEqual([...scan.files], [["config.json", join(dir, "snap", "config.json")]]);
    assert.deepEqual(scan.skipped.map((s) => s.name), ["tokenizer.json"]);
  });
});

test("a file of 100 MB or more is not carried and is reported", async () => {
  await inTemp(async (dir) => {
    await writeFile(join(dir, "big.json"), "");
    await truncate(join(dir, "big.json"), MAX_CARRIED_FILE_SIZE); // sparse: no real disk use
    await writeFile(join(dir, "config.json"), "{}");
    const scan = await scanModelFiles(dir);
    assert.deepEqual([...scan.files.keys()], ["config.json"]);
    assert.deepEqual(scan.skipped, [{ name: "big.json", reason: "100000000 bytes; carried files must be under 100000000 bytes" }]);
  });
});

test("isWeightFileName covers weight files and their indexes only", () => {
  assert.ok(isWeightFileName("model.safetensors.index.json"));
  assert.ok(isWeightFileName("pytorch_model-00001-of-00002.bin"));
  assert.ok(!isWeightFileName("tokenizer.json"));
  assert.ok(!isWeightFileName("index.json"));
  assert.ok(!isWeightFileName("binary.txt"));
});

test("NOT_FOUND for a missing folder, UNREADABLE for a file", async () => {
  await inTemp(async (dir) => {
    await assert.rejects(collectModelFiles(join(dir, "nope")), fails("NOT_FOUND", "no such folder"));
    await writeFile(join(dir, "f"), "");
    await assert.rejects(collectModelFiles(join(dir, "f")), fails("UNREADABLE", "not a folder"));
  });
});
