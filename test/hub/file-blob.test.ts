import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFile, truncate, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { FILE_BLOB_CHUNK_BYTES, FileBlob } from "../../src/hub/file-blob.js";
import { TruecastError } from "../../src/errors.js";
import { tempDir } from "../helpers.js";

/** Bytes whose every position is distinguishable (a wrong offset shows). */
function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >>> 8)) & 0xff;
  return b;
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<{ bytes: Buffer; chunks: number }> {
  const parts: Uint8Array[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  return { bytes: Buffer.concat(parts), chunks: parts.length };
}

async function withFile(bytes: Buffer, run: (path: string) => Promise<void>): Promise<void> {
  const t = await tempDir();
  try {
    const path = join(t.dir, "shard.safetensors");
    await writeFile(path, bytes);
    await run(path);
  } finally {
    await t.cleanup();
  }
}

test("a FileBlob is a Blob of the file's size that streams its exact bytes in chunks of FILE_BLOB_CHUNK_BYTES", async () => {
  const bytes = pattern(2 * FILE_BLOB_CHUNK_BYTES + 12345);
  await withFile(bytes, async (path) => {
    const blob = await FileBlob.open(path);
    assert.ok(blob instanceof Blob, "the official client requires instanceof Blob");
    assert.equal(blob.size, bytes.length);
    assert.equal(blob.type, "");
    const { bytes: got, chunks } = await drain(blob.stream());
    assert.ok(got.equals(bytes));
    assert.equal(chunks, 3);
    // A second stream reads the file again from the start.
    assert.ok((await drain(blob.stream())).bytes.equals(bytes));
  });
});

test("slices follow Blob semantics (negative and out-of-range bounds) and read their own range", async () => {
  const bytes = pattern(FILE_BLOB_CHUNK_BYTES + 5000);
  await withFile(bytes, async (path) => {
    const blob = await FileBlob.open(path);
    const cases: Array<[number | undefined, number | undefined]> = [
      [undefined, undefined], [10, 20], [-100, undefined], [-100, -50], [FILE_BLOB_CHUNK_BYTES - 3, FILE_BLOB_CHUNK_BYTES + 3],
      [50, 10], [0, bytes.length + 99], [bytes.length + 1, undefined], [-bytes.length - 10, 5],
    ];
    for (const [a, b] of cases) {
      const want = bytes.subarray(...([a, b].filter((v) => v !== undefined) as number[]));
      const s = blob.slice(a, b, "application/octet-stream");
      assert.equal(s.size, want.length, `slice(${a}, ${b}) size`);
      assert.equal(s.type, "application/octet-stream");
      assert.ok(Buffer.from(await s.arrayBuffer()).equals(want), `slice(${a}, ${b}) bytes`);
      assert.ok((await drain(s.stream())).bytes.equals(want), `slice(${a}, ${b}) stream`);
    }
    // A slice of a slice is relative to the slice.
    const inner = blob.slice(1000, 3000).slice(100, 200);
    assert.ok(Buffer.from(await inner.arrayBuffer()).equals(bytes.subarray(1100, 1200)));
    assert.equal(await blob.slice(0, 5).text(), bytes.subarray(0, 5).toString("utf8"));
  });
});

test("slices read at the same time (multipart parts) each get their own bytes", async () => {
  const bytes = pattern(3 * FILE_BLOB_CHUNK_BYTES);
  await withFile(bytes, async (path) => {
    const blob = await FileBlob.open(path);
    const part = Math.ceil(bytes.length / 5);
    const got = await Promise.all(Array.from({ length: 5 }, (_, i) => drain(blob.slice(i * part, (i + 1) * part).stream())));
    assert.ok(Buffer.concat(got.map((g) => g.bytes)).equals(bytes));
  });
});

test("a file that does not exist, or is a folder, is UNREADABLE at open", async () => {
  const t = await tempDir();
  try {
    await assert.rejects(FileBlob.open(join(t.dir, "missing.safetensors")), (e: unknown) => e instanceof TruecastError && e.code === "UNREADABLE" && /missing\.safetensors: ENOENT/.test(e.message));
    await assert.rejects(FileBlob.open(t.dir), (e: unknown) => e instanceof TruecastError && e.code === "UNREADABLE" && /not a regular file/.test(e.message));
  } finally {
    await t.cleanup();
  }
});

test("a file modified after open (same size, new mtime) is refused when read, naming the file", async () => {
  await withFile(pattern(4096), async (path) => {
    const blob = await FileBlob.open(path);
    const later = new Date(Date.now() + 60_000);
    await utimes(path, later, later);
    await assert.rejects(drain(blob.stream()), (e: unknown) => e instanceof TruecastError && e.code === "VERIFY_FAILED" && e.message.includes(path) && /changed during the publish/.test(e.message));
  });
});

test("a file that grew or shrank after open is refused when read", async () => {
  await withFile(pattern(4096), async (path) => {
    const blob = await FileBlob.open(path);
    await appendFile(path, "x");
    await assert.rejects(blob.arrayBuffer(), (e: unknown) => e instanceof TruecastError && e.code === "VERIFY_FAILED");
  });
  await withFile(pattern(4096), async (path) => {
    const blob = await FileBlob.open(path);
    await truncate(path, 100);
    await assert.rejects(drain(blob.slice(0, 200).stream()), (e: unknown) => e instanceof TruecastError && e.code === "VERIFY_FAILED");
  });
});

test("a file that shrinks while a stream is reading it ends the stream with an error, not with short bytes", async () => {
  await withFile(pattern(3 * FILE_BLOB_CHUNK_BYTES), async (path) => {
    const blob = await FileBlob.open(path);
    const reader = blob.stream().getReader();
    const first = await reader.read();
    assert.equal(first.value?.byteLength, FILE_BLOB_CHUNK_BYTES);
    await truncate(path, FILE_BLOB_CHUNK_BYTES + 10);
    await assert.rejects(
      (async () => {
        for (;;) if ((await reader.read()).done) break;
      })(),
      (e: unknown) => e instanceof TruecastError && e.code === "VERIFY_FAILED",
    );
  });
});
