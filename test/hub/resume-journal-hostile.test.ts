/**
 * The resume journal attacked through the file system: an entry is taken as "this shard is on the Hub" (its upload is
 * skipped and the commit names its oid), so only an entry this user wrote, in a folder only this user can write, may
 * count. A symbolic link in place of an entry or of the journal folder, an entry or folder others can write, and one
 * owned by another user are ignored with one warning each; entries and folders are written private (0600, 0700).
 */
import assert from "node:assert/strict";
import { chmod, chown, mkdir, rename, stat, symlink } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { entryPath, readJournal, recordShard } from "../../src/hub/resume-journal.js";
import { tempDir } from "../helpers.js";

const FP = "f".repeat(64);
const entry = (file: string) => ({ file, size: 1234, sha256: "a".repeat(64), record: { digests: ["xxh3-64:0000000000000001"], casts: [null], verified: { tensors: 1, bytes: 8 } } });
const A = "model-00001-of-00002.safetensors";
const B = "model-00002-of-00002.safetensors";

test("journal entries and folders are written private: 0600 files in 0700 folders", async () => {
  const t = await tempDir();
  const old = process.umask(0o002);
  try {
    const dir = join(t.dir, "cache", "resume", "k");
    await recordShard(dir, FP, entry(A));
    assert.equal((await stat(entryPath(dir, A))).mode & 0o777, 0o600);
    for (const d of [dir, join(t.dir, "cache", "resume"), join(t.dir, "cache")]) assert.equal((await stat(d)).mode & 0o777, 0o700, d);
  } finally {
    process.umask(old);
    await t.cleanup();
  }
});

test("a symbolic link in place of an entry, or of the journal folder, is not taken", async () => {
  const t = await tempDir();
  try {
    const elsewhere = join(t.dir, "elsewhere");
    await recordShard(elsewhere, FP, entry(A));
    const dir = join(t.dir, "j");
    await recordShard(dir, FP, entry(B));
    await symlink(entryPath(elsewhere, A), entryPath(dir, A));
    const warnings: string[] = [];
    const got = await readJournal(dir, FP, (l) => warnings.push(l));
    assert.deepEqual([...got.keys()], [B]);
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0] ?? "", /model-00001-of-00002\.safetensors\.json: it is a symbolic link, not an entry truecast wrote; that shard is produced again$/);

    const linked = join(t.dir, "linked");
    await symlink(elsewhere, linked);
    warnings.length = 0;
    assert.equal((await readJournal(linked, FP, (l) => warnings.push(l))).size, 0);
    assert.match(warnings.join("\n"), /^ignoring the resume journal [^\n]*linked: it is a symbolic link, not a folder truecast made; every shard is produced again$/);
  } finally {
    await t.cleanup();
  }
});

test("an entry or a journal folder that others can write is not taken", async () => {
  const t = await tempDir();
  try {
    const dir = join(t.dir, "j");
    await recordShard(dir, FP, entry(A));
    await recordShard(dir, FP, entry(B));
    await chmod(entryPath(dir, A), 0o666);
    const warnings: string[] = [];
    assert.deepEqual([...(await readJournal(dir, FP, (l) => warnings.push(l))).keys()], [B]);
    assert.match(warnings.join("\n"), /model-00001-of-00002\.safetensors\.json: others can write to it; that shard is produced again$/);
    await chmod(dir, 0o777);
    warnings.length = 0;
    assert.equal((await readJournal(dir, FP, (l) => warnings.push(l))).size, 0);
    assert.match(warnings.join("\n"), /^ignoring the resume journal [^\n]*: others can write to it; every shard is produced again$/);
  } finally {
    await t.cleanup();
  }
});

test("an entry owned by another user is not taken", { skip: process.getuid?.() === 0 ? false : "only root can give a file to another user" }, async () => {
  const t = await tempDir();
  try {
    const dir = join(t.dir, "j");
    await recordShard(dir, FP, entry(A));
    // Written by another user (here: made theirs), with the right fingerprint and checksum.
    await mkdir(join(t.dir, "x"));
    await rename(entryPath(dir, A), join(t.dir, "x", "e"));
    await chown(join(t.dir, "x", "e"), 65534, 65534);
    await rename(join(t.dir, "x", "e"), entryPath(dir, A));
    const warnings: string[] = [];
    assert.equal((await readJournal(dir, FP, (l) => warnings.push(l))).size, 0);
    assert.match(warnings.join("\n"), /model-00001-of-00002\.safetensors\.json: it belongs to another user; that shard is produced again$/);
  } finally {
    await t.cleanup();
  }
});

test("a huge entry is refused unread past its shard's budget; entries of shards the run does not plan are not read", async () => {
  const t = await tempDir();
  try {
    const dir = join(t.dir, "j");
    await recordShard(dir, FP, entry(A));
    await recordShard(dir, FP, entry(B));
    // 8 MiB of valid-looking JSON where a 4-tensor shard's entry is a few hundred bytes.
    const { writeFile } = await import("node:fs/promises");
    await writeFile(entryPath(dir, A), JSON.stringify({ format: "truecast-resume-1", pad: "x".repeat(8 * 2 ** 20) }), { mode: 0o600 });
    await writeFile(join(dir, "not-planned.safetensors.json"), "garbage", { mode: 0o600 });
    const warnings: string[] = [];
    const got = await readJournal(dir, FP, (l) => warnings.push(l), new Map([[A, 4], [B, 1]]));
    assert.deepEqual([...got.keys()], [B]);
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0] ?? "", /model-00001-of-00002\.safetensors\.json: it is 83886\d\d bytes, more than the entry of a shard of 4 tensors can be; that shard is produced again$/);
  } finally {
    await t.cleanup();
  }
});
