import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { RangeHasher } from "../../src/export/hasher.js";
import { planExport } from "../../src/export/plan.js";
import { verifyShardHeader, verifyTensors } from "../../src/export/verify.js";
import type { WrittenTensor } from "../../src/export/write-shard.js";
import { writeShard } from "../../src/export/write-shard.js";
import { CastPool } from "../../src/export/cast-pool.js";
import type { TensorRef } from "../../src/sources/tensor-ref.js";
import { tempDir } from "../helpers.js";
import { bf16Weights } from "../support/build-model.js";

function ref(name: string, data: Uint8Array): TensorRef {
  return {
    name,
    dtype: "BF16",
    shape: [data.byteLength / 2],
    byteLength: data.byteLength,
    origin: "memory",
    async *chunks() {
      yield data;
    },
  };
}

async function writeOne(dir: string) {
  const plan = planExport({ tensors: [ref("a", bf16Weights(64, 1)), ref("b", bf16Weights(32, 2))], policy: "keep" });
  const shard = plan.shards[0];
  assert.ok(shard);
  const path = join(dir, shard.fileName);
  const ranges = new Map<string, { start: number; length: number }>();
  const pool = new CastPool(1);
  const written = (await writeShard({ shard, path, allowOverflow: false, castPool: pool, onTensor: (t) => ranges.set(t.written.at(t.row).name, t.range) })).list();
  await pool.close();
  return { shard, path, written, ranges };
}

test("a tensor whose bytes on disk differ from those written is caught, naming the tensor", async () => {
  const { dir, cleanup } = await tempDir();
  const hasher = new RangeHasher();
  try {
    const { path, written, ranges } = await writeOne(dir);
    const b = written.find((w) => w.name === "b") as WrittenTensor;
    const range = ranges.get("b");
    assert.ok(range);
    const a = written.find((w) => w.name === "a") as WrittenTensor;
    const aRange = ranges.get("a");
    assert.ok(aRange);
    const items = [{ tensor: a, range: aRange }, { tensor: b, range }];
    assert.deepEqual(await verifyTensors({ path, shardName: "model.safetensors", items, hasher }), { tensors: 2, bytes: aRange.length + 64 });
    // Flip one bit of tensor b on disk.
    const bytes = await readFile(path);
    bytes[range.start + 5] = (bytes[range.start + 5] ?? 0) ^ 1;
    await writeFile(path, bytes);
    await assert.rejects(verifyTensors({ path, shardName: "model.safetensors", items, hasher }), (e: Error & { code?: string }) => {
      assert.equal(e.code, "VERIFY_FAILED");
      assert.equal(e.message, 'model.safetensors was written but tensor "b" does not read back as the bytes written; the disk or file system changed it');
      return true;
    });
  } finally {
    await hasher.close();
    await cleanup();
  }
});

test("a shard whose header or size changed after writing is caught", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const { shard, path } = await writeOne(dir);
    await verifyShardHeader({ path, shard });
    const bytes = await readFile(path);
    // Renaming a tensor in the header (same length) is a different header.
    const text = bytes.toString("latin1").replace('"a":', '"c":');
    await writeFile(path, Buffer.from(text, "latin1"));
    await assert.rejects(verifyShardHeader({ path, shard }), { code: "VERIFY_FAILED" });
    await writeFile(path, bytes.subarray(0, bytes.length - 2));
    await assert.rejects(verifyShardHeader({ path, shard }), (e: Error & { code?: string }) => /ST_TRUNCATED|VERIFY_FAILED/.test(e.code ?? ""));
  } finally {
    await cleanup();
  }
});

test("a whole-file pass: the tensors' reads, in batches, give their digests and the SHA-256 of every byte of the file", async () => {
  const { dir, cleanup } = await tempDir();
  const hasher = new RangeHasher();
  try {
    const { path, written, ranges, shard } = await writeOne(dir);
    const a = ranges.get("a");
    const b = ranges.get("b");
    assert.ok(a && b);
    const pass = hasher.startPass();
    // Batch by batch, in file order: the header before "a" and anything between ranges go into the SHA-256 only.
    const digests = [...(await hasher.hash(path, [a], pass)), ...(await hasher.hash(path, [b], pass))];
    assert.deepEqual(digests, ["a", "b"].map((n) => written.find((w) => w.name === n)?.digest));
    const end = await hasher.endPass(path, pass, shard.fileSize);
    const bytes = await readFile(path);
    assert.equal(end.sha256, createHash("sha256").update(bytes).digest("hex"));
    const st = statSync(path);
    assert.deepEqual(end.file, { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs });
    // A pass without ranges (a shard of no tensors) reads the whole file at its end.
    const empty = hasher.startPass();
    assert.equal((await hasher.endPass(path, empty, bytes.length)).sha256, end.sha256);
  } finally {
    await hasher.close();
    await cleanup();
  }
});

type Range = { start: number; length: number };

/** Runs `body` with a hasher and a written shard of tensors "a" then "b" (their ranges); both are gone after. */
async function withShard(body: (s: { hasher: RangeHasher; path: string; fileSize: number; a: Range; b: Range }) => Promise<void>): Promise<void> {
  const { dir, cleanup } = await tempDir();
  const hasher = new RangeHasher();
  try {
    const { path, ranges, shard } = await writeOne(dir);
    const a = ranges.get("a");
    const b = ranges.get("b");
    assert.ok(a && b);
    await body({ hasher, path, fileSize: shard.fileSize, a, b });
  } finally {
    await hasher.close();
    await cleanup();
  }
}

test("a whole-file pass refuses a file put in the place of the one it read, and ranges out of file order", () =>
  withShard(async ({ hasher, path, fileSize, a, b }) => {
    const pass = hasher.startPass();
    await hasher.hash(path, [a], pass);
    // Same bytes, another file (made while the first exists, so another inode) renamed to the path.
    await writeFile(`${path}.new`, await readFile(path));
    await rename(`${path}.new`, path);
    await assert.rejects(hasher.hash(path, [b], pass), (e: Error & { code?: string }) => {
      assert.equal(e.code, "VERIFY_FAILED");
      assert.equal(e.message, `${path} was replaced by another file while it was verified`);
      return true;
    });
    const backwards = hasher.startPass();
    await hasher.hash(path, [b], backwards);
    await assert.rejects(hasher.hash(path, [a], backwards), /asked for after those up to .*truecast bug/);
    await assert.rejects(hasher.endPass(path, hasher.startPass(), fileSize + 1), /ends at byte/);
  }));

test("a dropped pass stays dropped: a batch still queued behind the shard's failure is refused, not read as a new pass from byte 0", () =>
  withShard(async ({ hasher, path, fileSize, a, b }) => {
    const pass = hasher.startPass();
    await hasher.hash(path, [a], pass);
    // The shard failed (export.ts drops its pass); its next batch was already queued behind the failing one.
    hasher.dropPass(pass);
    const refused = (e: Error & { code?: string }) => {
      assert.equal(e.code, "VERIFY_FAILED");
      assert.equal(e.message, `${path}: its verification already failed; it is not read again`);
      return true;
    };
    await assert.rejects(hasher.hash(path, [b], pass), refused);
    await assert.rejects(hasher.endPass(path, pass, fileSize), refused);
    // Other passes, and plain range digests, are untouched.
    const other = hasher.startPass();
    await hasher.hash(path, [a, b], other);
    assert.equal((await hasher.endPass(path, other, fileSize)).sha256, createHash("sha256").update(await readFile(path)).digest("hex"));
    assert.equal((await hasher.hash(path, [b])).length, 1);
  }));
