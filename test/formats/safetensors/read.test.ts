import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { chmod, readFile, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readRangeChunks, readSafetensorsHeader } from "../../../src/formats/safetensors/read.js";
import { fixture, tempDir } from "../../helpers.js";
import { fails, stFile } from "./build.js";

interface Expected {
  tensors: Array<{ name: string; dtype: string; shape: number[]; hex: string }>;
}

const REFERENCE = fixture("safetensors", "reference.safetensors");

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of it) out.push(c);
  return out;
}

function hex(chunks: readonly Uint8Array[]): string {
  return chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength).toString("hex")).join("");
}

/** Open file descriptors of this process (Linux), to prove handles are closed. */
const openFds = (): number => readdirSync("/proc/self/fd").length;
const canCountFds = existsSync("/proc/self/fd");

test("reads the header of a file written by the safetensors library", async () => {
  const h = await readSafetensorsHeader(REFERENCE);
  const expected = JSON.parse(await readFile(fixture("safetensors", "reference.json"), "utf8")) as Expected;
  assert.equal(h.path, REFERENCE);
  assert.equal(h.fileSize, (await readFile(REFERENCE)).length);
  assert.deepEqual(h.metadata, { format: "pt" });
  assert.deepEqual(
    h.entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape })),
    expected.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })),
  );
  assert.equal(h.dataStart % 8, 0);
});

test("readRangeChunks returns exactly each tensor's bytes, for several chunk sizes", async () => {
  const h = await readSafetensorsHeader(REFERENCE);
  const expected = JSON.parse(await readFile(fixture("safetensors", "reference.json"), "utf8")) as Expected;
  for (const chunkSize of [1, 3, 8, 16, 4096]) {
    for (const [i, e] of h.entries.entries()) {
      const length = e.end - e.begin;
      const chunks = await collect(readRangeChunks(REFERENCE, h.dataStart + e.begin, length, chunkSize));
      assert.equal(hex(chunks), expected.tensors[i]?.hex, `${e.name} in chunks of ${chunkSize}`);
      assert.equal(chunks.length, Math.ceil(length / chunkSize));
      chunks.slice(0, -1).forEach((c) => assert.equal(c.length, chunkSize));
    }
  }
});

test("each chunk is a fresh buffer that owns its memory", async () => {
  const chunks = await collect(readRangeChunks(REFERENCE, 0, 64, 8));
  const buffers = new Set(chunks.map((c) => c.buffer));
  assert.equal(buffers.size, chunks.length);
  for (const c of chunks) {
    assert.equal(c.byteOffset, 0);
    assert.equal(c.buffer.byteLength, 8);
    assert.equal(Object.getPrototypeOf(c), Uint8Array.prototype);
  }
  assert.deepEqual(await collect(readRangeChunks(REFERENCE, 10, 0, 8)), []);
});

test("the handle is opened when iteration starts and closed after a full read and after an early break", { skip: !canCountFds }, async () => {
  const before = openFds();
  const it = readRangeChunks(REFERENCE, 0, 100, 10);
  assert.equal(openFds(), before, "creating the iterable opens nothing");
  await collect(it);
  assert.equal(openFds(), before);
  for await (const c of readRangeChunks(REFERENCE, 0, 100, 10)) {
    assert.equal(c.length, 10);
    assert.equal(openFds(), before + 1);
    break;
  }
  assert.equal(openFds(), before);
});

test("ST_TRUNCATED when the file shrinks while being read, and the handle is still closed", { skip: !canCountFds }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const path = join(dir, "shrinking.safetensors");
    await writeFile(path, new Uint8Array(100));
    const before = openFds();
    const it = readRangeChunks(path, 0, 100, 40)[Symbol.asyncIterator]();
    assert.equal((await it.next()).value?.length, 40);
    await truncate(path, 60);
    await assert.rejects(it.next(), fails("ST_TRUNCATED", path, "ends at byte 60", "re-download or re-copy"));
    assert.equal(openFds(), before);
  } finally {
    await cleanup();
  }
});

test("NOT_FOUND for a missing file, UNREADABLE for a folder", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const missing = join(dir, "nope.safetensors");
    await assert.rejects(readSafetensorsHeader(missing), fails("NOT_FOUND", missing, "no such file"));
    await assert.rejects(collect(readRangeChunks(missing, 0, 4, 4)), fails("NOT_FOUND", missing));
    await assert.rejects(readSafetensorsHeader(dir), fails("UNREADABLE", dir, "is a folder"));
  } finally {
    await cleanup();
  }
});

test("UNREADABLE for a file without read permission", { skip: process.getuid?.() === 0 ? "root reads everything" : false }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const path = join(dir, "locked.safetensors");
    await writeFile(path, stFile({ header: "{}      " }));
    await chmod(path, 0o000);
    await assert.rejects(readSafetensorsHeader(path), fails("UNREADABLE", path, "permission denied"));
  } finally {
    await cleanup();
  }
});

test("header rules apply to files on disk: an empty file is truncated, trailing bytes refused", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const empty = join(dir, "empty.safetensors");
    await writeFile(empty, new Uint8Array(0));
    await assert.rejects(readSafetensorsHeader(empty), fails("ST_TRUNCATED", empty, "only 0 bytes"));
    const trailing = join(dir, "trailing.safetensors");
    await writeFile(trailing, stFile({ header: { w: { dtype: "U8", shape: [1], data_offsets: [0, 1] } }, data: 3 }));
    await assert.rejects(readSafetensorsHeader(trailing), fails("ST_FILE_SIZE", trailing, "2 bytes follow"));
  } finally {
    await cleanup();
  }
});
