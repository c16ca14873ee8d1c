/** The sha256 of an upload, computed on a worker thread, is node:crypto's, and refuses a file that changed. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sha256OnWorker } from "../../src/util/file-sha256.js";
import { TruecastError } from "../../src/errors.js";
import { tempDir } from "../helpers.js";

async function hashOf(path: string, extra: { signal?: AbortSignal } = {}): Promise<string> {
  const st = await stat(path);
  return sha256OnWorker({ path, size: st.size, mtimeMs: st.mtimeMs, ...extra });
}

test("the worker's sha256 equals node:crypto's, for sizes around its read size and for an empty file", async () => {
  const t = await tempDir();
  try {
    // 2 MiB is the worker's read size: one byte under, exactly, one over, several reads with a short last one.
    for (const size of [0, 1, 2 * 1024 * 1024 - 1, 2 * 1024 * 1024, 2 * 1024 * 1024 + 1, 5_000_001]) {
      const bytes = randomBytes(size);
      const path = join(t.dir, `f-${size}.bin`);
      await writeFile(path, bytes);
      assert.equal(await hashOf(path), createHash("sha256").update(bytes).digest("hex"), `${size} bytes`);
    }
  } finally {
    await t.cleanup();
  }
});

test("a file whose mtime, size or inode is not the snapshot is refused (UNREADABLE by default, naming it)", async () => {
  const t = await tempDir();
  try {
    const path = join(t.dir, "model.safetensors");
    await writeFile(path, Buffer.alloc(1000, 7));
    const st = await stat(path);
    const later = new Date(Date.now() + 60_000);
    await utimes(path, later, later);
    const changed = (e: unknown) => e instanceof TruecastError && e.code === "UNREADABLE" && e.message.includes(path) && /changed while it was being uploaded/.test(e.message);
    await assert.rejects(sha256OnWorker({ path, size: st.size, mtimeMs: st.mtimeMs }), changed);
    const now = await stat(path);
    await assert.rejects(sha256OnWorker({ path, size: st.size + 1, mtimeMs: now.mtimeMs }), changed);
    // Same size and mtime, another inode: a file put in its place (or a link retargeted) after the listing.
    await assert.rejects(sha256OnWorker({ path, size: now.size, mtimeMs: now.mtimeMs, dev: now.dev, ino: now.ino + 1 }), changed);
    assert.match(await sha256OnWorker({ path, size: now.size, mtimeMs: now.mtimeMs, dev: now.dev, ino: now.ino }), /^[0-9a-f]{64}$/);
    await assert.rejects(sha256OnWorker({ path: join(t.dir, "missing.safetensors"), size: 1, mtimeMs: 0 }), (e: unknown) => e instanceof TruecastError && e.code === "UNREADABLE" && /missing\.safetensors: ENOENT/.test(e.message));
  } finally {
    await t.cleanup();
  }
});

test("a cancelled hash rejects with the abort reason, and the next hash still works", async () => {
  const t = await tempDir();
  try {
    const path = join(t.dir, "a.bin");
    const bytes = randomBytes(3_000_000);
    await writeFile(path, bytes);
    const ctl = new AbortController();
    const pending = hashOf(path, { signal: ctl.signal });
    ctl.abort(new Error("stop"));
    await assert.rejects(pending, /stop/);
    const already = new AbortController();
    already.abort(new Error("before"));
    await assert.rejects(hashOf(path, { signal: already.signal }), /before/);
    assert.equal(await hashOf(path), createHash("sha256").update(bytes).digest("hex"));
  } finally {
    await t.cleanup();
  }
});

test("a critical hash (pieces read ahead on the thread pool) equals node:crypto's, around the read-ahead piece", async () => {
  const t = await tempDir();
  try {
    // 1 MiB is the read-ahead piece: one byte under, exactly, one over, several pieces with a short last one.
    for (const size of [0, 1, 1024 * 1024 - 1, 1024 * 1024, 1024 * 1024 + 1, 3 * 1024 * 1024 + 17]) {
      const bytes = randomBytes(size);
      const path = join(t.dir, `g-${size}.bin`);
      await writeFile(path, bytes);
      const st = await stat(path);
      const want = createHash("sha256").update(bytes).digest("hex");
      assert.equal(await sha256OnWorker({ path, size: st.size, mtimeMs: st.mtimeMs, dev: st.dev, ino: st.ino, schedule: "critical" }), want, `${size} bytes`);
    }
  } finally {
    await t.cleanup();
  }
});

test("a critical hash refuses a file that is not the snapshot (mtime, inode, size)", async () => {
  const t = await tempDir();
  try {
    const path = join(t.dir, "model.safetensors");
    await writeFile(path, randomBytes(3 * 1024 * 1024));
    const st = await stat(path);
    const changed = (e: unknown) => e instanceof TruecastError && e.code === "UNREADABLE" && e.message.includes(path) && /changed while it was being uploaded/.test(e.message);
    await assert.rejects(sha256OnWorker({ path, size: st.size, mtimeMs: st.mtimeMs + 1, schedule: "critical" }), changed);
    await assert.rejects(sha256OnWorker({ path, size: st.size, mtimeMs: st.mtimeMs, dev: st.dev, ino: st.ino + 1, schedule: "critical" }), changed);
    await assert.rejects(sha256OnWorker({ path, size: st.size + 1, mtimeMs: st.mtimeMs, schedule: "critical" }), changed);
    await assert.rejects(sha256OnWorker({ path: join(t.dir, "missing.safetensors"), size: 1, mtimeMs: 0, schedule: "critical" }), (e: unknown) => e instanceof TruecastError && e.code === "UNREADABLE" && /missing\.safetensors: ENOENT/.test(e.message));
  } finally {
    await t.cleanup();
  }
});
