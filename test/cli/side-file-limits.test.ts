import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { open, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { MAX_CONFIG_FILE_SIZE, MAX_SIDE_FILE_DEPTH } from "../../src/formats/side-file.js";
import { repoRoot, tempDir } from "../helpers.js";
import { bf16Weights, writeModelFolder } from "../support/build-model.js";

// Hostile side files are generated here at test time; the CLI runs as a real process under a 256 MB heap, so a
// parse that allocates gigabytes would abort V8 instead of printing the one clean line asserted below.
const BIN = join(repoRoot(), "dist", "src", "cli", "main.js");
const skip = !existsSync(BIN) && "not built";

async function runBounded(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, ["--max-old-space-size=256", BIN, ...args], { maxBuffer: 1 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; signal?: string; stdout?: string; stderr?: string };
    return { code: err.code ?? (err.signal ? 128 : -1), stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
}

/** `{"a": [[], [], ...]}` of about `bytes` bytes: millions of tiny arrays, the costliest JSON per byte to parse. */
async function writeManyArrays(path: string, bytes: number): Promise<number> {
  const f = await open(path, "w");
  const chunk = "[],".repeat(1 << 20);
  let written = 0;
  await f.write('{"a": [');
  while (written < bytes) written += (await f.write(chunk)).bytesWritten;
  await f.write("[]]}");
  await f.close();
  return written + 11;
}

const MODEL = [{ name: "w", dtype: "BF16" as const, shape: [4, 8], data: bf16Weights(32, 3) }];

test("a 90 MB config.json is refused with one line, and memory stays bounded (256 MB heap)", { skip }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, "src");
    await writeModelFolder(src, { tensors: MODEL });
    const size = await writeManyArrays(join(src, "config.json"), 90_000_000);
    const line = `truecast: ${join(src, "config.json")}: ${size} bytes, more than the ${MAX_CONFIG_FILE_SIZE} bytes a model config can need (truecast's limit); fix or restore it\n`;
    for (const args of [["inspect", src], ["export", src, join(dir, "out")]]) {
      const r = await runBounded(args);
      assert.equal(r.stderr, line, args[0]);
      assert.equal(r.code, 1);
    }
    assert.equal(existsSync(join(dir, "out")), false, "nothing half-written");
  } finally {
    await cleanup();
  }
});

test("a 20 KB config.json nested 10,000 deep is refused by its depth, not a stack overflow", { skip }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeModelFolder(dir, { tensors: MODEL });
    await writeFile(join(dir, "config.json"), '{"a": ' + "[".repeat(10_000) + "]".repeat(10_000) + "}");
    const r = await runBounded(["inspect", dir]);
    assert.equal(r.stderr, `truecast: ${join(dir, "config.json")}: nested deeper than ${MAX_SIDE_FILE_DEPTH} levels (truecast's limit); fix or restore it\n`);
    assert.equal(r.code, 1);
  } finally {
    await cleanup();
  }
});

test("an adapter_config.json over the cap is refused before parsing", { skip }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeModelFolder(join(dir, "model"), { tensors: MODEL, config: { torch_dtype: "bfloat16" } });
    await writeModelFolder(join(dir, "adapter"), { tensors: [] });
    const path = join(dir, "adapter", "adapter_config.json");
    const size = await writeManyArrays(path, 20_000_000);
    const r = await runBounded(["export", join(dir, "model"), join(dir, "out"), "--adapter", join(dir, "adapter")]);
    assert.equal(r.stderr, `truecast: ${path}: ${size} bytes, more than the ${MAX_CONFIG_FILE_SIZE} bytes an adapter config can need (truecast's limit)\n`);
    assert.equal(r.code, 1);
    assert.equal(existsSync(join(dir, "out")), false);
  } finally {
    await cleanup();
  }
});
