/**
 * The digest cache (export/digest-cache.ts): a second export of an unchanged local source file takes its SHA-256
 * from the cache instead of reading it; any change of the file (mtime, content, a same-size rewrite with the mtime
 * put back) makes it hashed again; entries that are links, another user's, writable by others, damaged or too large
 * are ignored; racily clean files are not recorded.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chmod, chown, lstat, mkdir, readdir, readFile, rename, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { settledFixture } from "../support/settled-fixture.js";
import { randomBytes } from "../support/build-model.js";
import { startSourceDigests, type SourceFileDigest } from "../../src/export/source-digests.js";
import { DigestCache, identify, RACY_MS } from "../../src/export/digest-cache.js";
import { sha256OnWorker, type FileSha256Params } from "../../src/util/file-sha256.js";
import { TruecastError } from "../../src/errors.js";

/** A clock a minute ahead: every file the test just wrote looks old enough not to be racy. */
const LATER = () => Date.now() + 60_000;

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Digests `path` with `cache`; returns the listing and how many bytes were read to hash. */
async function digestOnce(path: string, cache: DigestCache, now: () => number = LATER): Promise<{ listing: SourceFileDigest[]; hashedBytes: number }> {
  let hashedBytes = 0;
  const hash = async (p: FileSha256Params) => {
    const d = await sha256OnWorker(p);
    hashedBytes += p.size;
    return d;
  };
  const listing = await startSourceDigests([{ path, name: "model.safetensors", role: "source" }], { cache, hash, now }).result();
  return { listing, hashedBytes };
}

/** A file of `n` random bytes, and the listing that must describe it. */
async function sourceFile(dir: string, n = 1_000_000, seed = 1): Promise<{ path: string; bytes: Uint8Array; want: SourceFileDigest }> {
  const path = join(dir, "model.safetensors");
  const bytes = randomBytes(n, seed);
  await writeFile(path, bytes);
  return { path, bytes, want: { name: "model.safetensors", bytes: n, sha256: sha256(bytes), role: "source" } };
}

interface Recorded {
  dir: string;
  path: string;
  want: SourceFileDigest;
  cache: DigestCache;
  /** The cache's entry of `path`. */
  entry: string;
}

/** Runs `body` on a fresh file whose digest a cache in the same temp folder has recorded; the folder is removed after. */
async function withRecorded(body: (r: Recorded) => Promise<void>): Promise<void> {
  const { dir, cleanup } = await tempDir();
  try {
    const { path, want } = await sourceFile(dir);
    const cache = new DigestCache(join(dir, "digests"));
    assert.deepEqual(await digestOnce(path, cache), { listing: [want], hashedBytes: 1_000_000 });
    await body({ dir, path, want, cache, entry: cache.entryPath((await identify(path)).realPath) });
  } finally {
    await cleanup();
  }
}

test("a second digest of an unchanged file reads nothing: the cache gives it, marked fromCache; the entry is 0600 in a 0700 folder", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const { path, want } = await sourceFile(dir);
    const cache = new DigestCache(join(dir, "cache", "digests"));
    assert.deepEqual(await digestOnce(path, cache), { listing: [want], hashedBytes: 1_000_000 });
    assert.deepEqual(await digestOnce(path, cache), { listing: [{ ...want, fromCache: true }], hashedBytes: 0 });
    const entry = cache.entryPath((await identify(path)).realPath);
    assert.equal((await stat(entry)).mode & 0o777, 0o600);
    assert.equal((await stat(cache.dir)).mode & 0o777, 0o700);
    // By another name (a link to it): the same real file, the same entry.
    await symlink(path, join(dir, "alias.safetensors"));
    assert.deepEqual(await digestOnce(join(dir, "alias.safetensors"), cache), { listing: [{ ...want, fromCache: true }], hashedBytes: 0 });
  } finally {
    await cleanup();
  }
});

test("a touched, rewritten, or same-size rewritten file with its mtime put back is hashed again (ctime moved)", () =>
  withRecorded(async ({ dir, path, want, cache }) => {
    // touched: same bytes, new mtime
    const later = new Date(Date.now() + 5_000);
    await utimes(path, later, later);
    assert.deepEqual(await digestOnce(path, cache), { listing: [want], hashedBytes: 1_000_000 });
    assert.deepEqual(await digestOnce(path, cache), { listing: [{ ...want, fromCache: true }], hashedBytes: 0 });
    // rewritten with other bytes
    const other = randomBytes(1_000_000, 2);
    await writeFile(path, other);
    assert.deepEqual(await digestOnce(path, cache), { listing: [{ ...want, sha256: sha256(other) }], hashedBytes: 1_000_000 });
    // same size, other bytes, mtime (and atime) put back exactly: only ctime tells
    const whole = Math.floor(Date.now() / 1000) - 100; // whole seconds, which utimes sets exactly
    await utimes(path, whole, whole);
    assert.deepEqual((await digestOnce(path, cache)).hashedBytes, 1_000_000);
    assert.deepEqual(await digestOnce(path, cache), { listing: [{ ...want, sha256: sha256(other), fromCache: true }], hashedBytes: 0 });
    const before = await stat(path, { bigint: true });
    await new Promise((r) => setTimeout(r, 20)); // the kernel's coarse clock moves on, so the new ctime differs
    const third = randomBytes(1_000_000, 3);
    await writeFile(path, third);
    await utimes(path, whole, whole);
    const after = await stat(path, { bigint: true });
    assert.equal(after.mtimeNs, before.mtimeNs);
    assert.equal(after.size, before.size);
    assert.notEqual(after.ctimeNs, before.ctimeNs);
    assert.deepEqual(await digestOnce(path, cache), { listing: [{ ...want, sha256: sha256(third) }], hashedBytes: 1_000_000 });
    // replaced by another file (another inode) with the same size and mtime
    const fourth = randomBytes(1_000_000, 4);
    await writeFile(join(dir, "new"), fourth);
    await utimes(join(dir, "new"), whole, whole);
    await rename(join(dir, "new"), path);
    assert.deepEqual(await digestOnce(path, cache), { listing: [{ ...want, sha256: sha256(fourth) }], hashedBytes: 1_000_000 });
  }));

/** The entry `cache` holds for `path`, rewritten to claim `sha` with a valid checksum (what a forger could write). */
async function forge(entry: string, sha: string): Promise<string> {
  const e = JSON.parse(await readFile(entry, "utf8")) as Record<string, string>;
  e.sha256 = sha;
  e.check = createHash("sha256").update(JSON.stringify([e.format, e.path, e.dev, e.ino, e.size, e.mtimeNs, e.ctimeNs, e.sha256])).digest("hex");
  return JSON.stringify(e);
}

test("entries that are links, writable by others, another user's, in a folder others can write or reached by a link, are ignored", () =>
  withRecorded(async ({ dir, path, want, cache, entry }) => {
    const lie = "0".repeat(64);
    const forged = await forge(entry, lie);
    // A forged entry in a good file is believed (its checksum has no key): trust rests on who can write the folder.
    await writeFile(entry, forged, { mode: 0o600 });
    assert.deepEqual((await digestOnce(path, cache)).listing, [{ ...want, sha256: lie, fromCache: true }]);
    const hostile: [string, () => Promise<void>][] = [
      ["writable by others", () => chmod(entry, 0o666)],
      ["a link", async () => {
        await writeFile(join(dir, "elsewhere.json"), forged, { mode: 0o600 });
        await rm(entry);
        await symlink(join(dir, "elsewhere.json"), entry);
      }],
      ["in a folder others can write", () => chmod(cache.dir, 0o777)],
      ["in a folder reached by a link", async () => {
        await rename(cache.dir, join(dir, "real-digests"));
        await symlink(join(dir, "real-digests"), cache.dir);
      }],
    ];
    if (process.getuid?.() === 0) hostile.push(["another user's", () => chown(entry, 4242, 4242)]);
    for (const [what, make] of hostile) {
      await rm(cache.dir, { recursive: true, force: true });
      await rm(join(dir, "real-digests"), { recursive: true, force: true });
      await mkdir(cache.dir, { mode: 0o700 });
      await writeFile(entry, forged, { mode: 0o600 });
      await make();
      assert.deepEqual(await digestOnce(path, cache, Date.now), { listing: [want], hashedBytes: 1_000_000 }, what);
    }
  }));

test("damaged, foreign-format, edited, oversized and other files' entries are ignored, then replaced", () =>
  withRecorded(async ({ dir, path, want, cache, entry }) => {
    const good = await readFile(entry, "utf8");
    const e = JSON.parse(good) as Record<string, string>;
    const bad: [string, string][] = [
      ["cut short", good.slice(0, good.length - 10)],
      ["not JSON", "\u0000\u0000\u0000"],
      ["another format", JSON.stringify({ ...e, format: "truecast-digest-0" })],
      ["digest edited, checksum not", JSON.stringify({ ...e, sha256: "1".repeat(64) })],
      ["another size", JSON.stringify({ ...e, size: "999" })],
      ["another ctime", JSON.stringify({ ...e, ctimeNs: String(BigInt(e.ctimeNs ?? "0") + 1n) })],
      ["another path", JSON.stringify({ ...e, path: join(dir, "other") })],
      ["a number where a string goes", JSON.stringify({ ...e, size: 1_000_000 })],
      ["too large", JSON.stringify({ ...e, pad: "x".repeat(70_000) })],
    ];
    for (const [what, text] of bad) {
      await writeFile(entry, text, { mode: 0o600 });
      assert.deepEqual(await digestOnce(path, cache), { listing: [want], hashedBytes: 1_000_000 }, what);
      assert.equal(await readFile(entry, "utf8"), good, `${what}: the entry is written again`);
    }
  }));

test("a racily clean file (mtime or ctime within 2 s of the hash) or one that changed while hashed is not recorded", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const { path, want } = await sourceFile(dir);
    const cache = new DigestCache(join(dir, "digests"));
    const entry = cache.entryPath((await identify(path)).realPath);
    // Just written: its ctime is now.
    assert.deepEqual(await digestOnce(path, cache, Date.now), { listing: [want], hashedBytes: 1_000_000 });
    await assert.rejects(lstat(entry), { code: "ENOENT" });
    assert.deepEqual(await digestOnce(path, cache, Date.now), { listing: [want], hashedBytes: 1_000_000 });
    // Just under the margin before the hash began (a clock 1.9 s ahead), then just past it.
    const id = await identify(path);
    const ctimeMs = Number(id.ctimeNs / 1_000_000n);
    await digestOnce(path, cache, () => ctimeMs + RACY_MS - 100);
    await assert.rejects(lstat(entry), { code: "ENOENT" });
    await digestOnce(path, cache, () => ctimeMs + RACY_MS + 100);
    await lstat(entry);
    // A ctime after the hash began is racy however far after: the file system's clock is ahead of ours.
    await rm(entry);
    assert.equal(await cache.record({ before: id, after: id, sha256: want.sha256, startMs: ctimeMs - RACY_MS + 100 }), false);
    assert.equal(await cache.record({ before: id, after: id, sha256: want.sha256, startMs: ctimeMs - 3_600_000 }), false);
    await assert.rejects(lstat(entry), { code: "ENOENT" });
    assert.equal(await cache.record({ before: id, after: id, sha256: want.sha256, startMs: ctimeMs + RACY_MS + 100 }), true);
    // Another identity after the hash than before it (here its ctime): nothing recorded.
    const unrecorded = new DigestCache(join(dir, "other"));
    assert.equal(await unrecorded.record({ before: id, after: { ...id, ctimeNs: id.ctimeNs + 1n }, sha256: want.sha256, startMs: LATER() }), false);
    // A file whose metadata changes while it is hashed: refused by the export, and not recorded.
    const moving = async (p: FileSha256Params) => {
      const d = await sha256OnWorker(p);
      await chmod(path, 0o640);
      return d;
    };
    await assert.rejects(
      startSourceDigests([{ path, name: "model.safetensors", role: "source" }], { cache: unrecorded, hash: moving, now: LATER }).result(),
      (e: unknown) => e instanceof TruecastError && e.code === "UNREADABLE" && /changed while it was being exported/.test(e.message),
    );
    await assert.rejects(lstat(unrecorded.dir), { code: "ENOENT" });
  } finally {
    await cleanup();
  }
});

test("a file stamped by a clock ahead of this machine's (mtime and ctime in our future) is not recorded: a same-size rewrite in its tick would go unseen", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const { path, want } = await sourceFile(dir);
    const cache = new DigestCache(join(dir, "digests"));
    const entry = cache.entryPath((await identify(path)).realPath);
    // This machine's clock an hour behind the file system's: the file, written just now, looks an hour in the future.
    const behind = () => Date.now() - 3_600_000;
    assert.deepEqual(await digestOnce(path, cache, behind), { listing: [want], hashedBytes: 1_000_000 });
    await assert.rejects(lstat(entry), { code: "ENOENT" });
    // So the next run reads it again rather than trust an identity that a rewrite in that tick would keep.
    assert.deepEqual(await digestOnce(path, cache, behind), { listing: [want], hashedBytes: 1_000_000 });
    // Once our clock has passed the file's times by the margin, it is recorded.
    assert.deepEqual(await digestOnce(path, cache, LATER), { listing: [want], hashedBytes: 1_000_000 });
    await lstat(entry);
  } finally {
    await cleanup();
  }
});

test("the cache keeps at most its bound of entries, the oldest written going first", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const cache = new DigestCache(join(dir, "digests"), 3);
    const paths = [];
    for (let i = 0; i < 5; i++) {
      const path = join(dir, `f${i}`);
      await writeFile(path, randomBytes(1000, i + 1));
      paths.push(path);
      await digestOnce(path, cache);
      // distinct write times for the entries (the oldest is dropped first)
      const entry = cache.entryPath((await identify(path)).realPath);
      await utimes(entry, new Date(1_000_000 + i * 1000), new Date(1_000_000 + i * 1000));
    }
    const names = (await readdir(cache.dir)).sort();
    const kept = await Promise.all(paths.slice(2).map(async (p) => cache.entryPath((await identify(p)).realPath).slice(cache.dir.length + 1)));
    assert.deepEqual(names, kept.sort());
  } finally {
    await cleanup();
  }
});

test("truecast export twice: the second report takes the digest from the cache ($TRUECAST_CACHE/digests), the card is the same", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    // A committed fixture, old enough for its digest to be recorded.
    const source = await settledFixture("torch", "views.pt");
    const env = { TRUECAST_CACHE: join(dir, "cache") };
    const run = async (out: string) => {
      const r = await cli(["export", source, join(dir, out), "--json"], { env });
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(await readFile(join(dir, out, "truecast-report.json"), "utf8")) as { sourceFiles: SourceFileDigest[] };
      return { files: report.sourceFiles, card: await readFile(join(dir, out, "README.md"), "utf8") };
    };
    const want: SourceFileDigest = { name: "views.pt", bytes: (await stat(source)).size, sha256: sha256(await readFile(source)), role: "source" };
    const first = await run("a");
    assert.deepEqual(first.files, [want]);
    assert.deepEqual(await readdir(join(dir, "cache", "digests")), [new DigestCache(join(dir, "cache", "digests")).entryPath((await identify(source)).realPath).split("/").at(-1)]);
    const second = await run("b");
    assert.deepEqual(second.files, [{ ...want, fromCache: true }]);
    assert.equal(second.card.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, "DATE"), first.card.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, "DATE"));
  } finally {
    await cleanup();
  }
});
