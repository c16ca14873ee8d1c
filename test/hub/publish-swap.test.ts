/**
 * A file replaced after the folder was listed is never hashed or sent as it then is: every read of a file to
 * publish checks device, inode, size and mtime against the listing on the handle it reads from. The swaps are made
 * from the progress callback, at the moment between listing and hashing (phase "connecting") or between hashing and
 * sending (a file's hash done), with inputs generated here: a shard with the same header and size but other tensor
 * bytes and the same mtime, or a link to a file outside the folder.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TruecastError } from "../../src/errors.js";
import type { PublishEvent } from "../../src/hub/events.js";
import { publishFolder } from "../../src/hub/publish-folder.js";
import { startHubDouble, type HubDouble } from "../support/hub-double.js";
import { tempDir } from "../helpers.js";
import { safetensorsBytes, writeModelFolder } from "./model-folder.js";

const SHARD = "model-00001-of-00002.safetensors";
const FIXED_TIME = 1_700_000_000;
const noSleep = async () => undefined;
const commits = (d: HubDouble) => d.requests.filter((r) => r.method === "POST" && /\/commit\//.test(r.path) && r.status === 200);

/** Shard 1 of writeModelFolder (seed 1), or one with the same header and size but other tensor bytes (seed 9). */
function shard1(seed = 1): Buffer {
  return safetensorsBytes([
    { name: "model.embed_tokens.weight", dtype: "BF16", shape: [4, 8] },
    { name: "model.layers.0.mlp.up_proj.weight", dtype: "BF16", shape: [4, 8] },
  ], seed);
}
const lookalikeShard = () => shard1(9);

/**
 * Storage requests for shard 1, as listed or as swapped in (named by their sha256). Shard 2, smaller, is uploaded
 * before it (smallest first), so other storage requests are expected.
 */
const shard1Storage = (d: HubDouble) => {
  const oids = [shard1(), lookalikeShard()].map((b) => createHash("sha256").update(b).digest("hex"));
  return d.requests.filter((r) => r.server === "storage" && oids.some((oid) => r.path.includes(oid)));
};

/** Replace `path` by a new file (another inode) holding `bytes`, with the old file's mtime. */
function replaceKeepingMtime(path: string, bytes: Buffer): void {
  const before = statSync(path);
  writeFileSync(path + ".new", bytes);
  utimesSync(path + ".new", FIXED_TIME, FIXED_TIME);
  renameSync(path + ".new", path);
  assert.equal(statSync(path).mtimeMs, before.mtimeMs);
  assert.equal(statSync(path).size, before.size);
}

async function publishWithSwap(swap: (dir: string, outside: string, e: PublishEvent) => boolean): Promise<{ error: unknown; d: HubDouble }> {
  const d = await startHubDouble();
  const t = await tempDir();
  const dir = join(t.dir, "model");
  const outside = join(t.dir, "outside");
  let swapped = false;
  try {
    await writeModelFolder(dir);
    // A whole-second mtime, so that a replacement can be given exactly the same one.
    utimesSync(join(dir, SHARD), FIXED_TIME, FIXED_TIME);
    let error: unknown = null;
    try {
      await publishFolder({
        folder: dir, repoId: "acme/swapped", token: "hf_write", endpoint: d.url, sleep: noSleep, concurrency: 1,
        onProgress: (e) => {
          if (!swapped) swapped = swap(dir, outside, e);
        },
      });
    } catch (e) {
      error = e;
    }
    assert.equal(swapped, true, "the swap happened");
    return { error, d };
  } finally {
    await d.stop();
    await t.cleanup();
  }
}

function assertRefused(error: unknown, d: HubDouble, name: string): void {
  assert.ok(error instanceof TruecastError, `refused, not published: ${String(error)}`);
  assert.equal(error.code, "VERIFY_FAILED");
  assert.match(error.message, new RegExp(`${name.replace(/[.]/g, "\\.")} changed during the publish .*nothing was committed`));
  assert.equal(error.message.includes("\n"), false);
  assert.equal(commits(d).length, 0, "nothing committed");
  assert.equal(d.state.repos.has("acme/swapped"), false, "the repo this run created is deleted again");
}

test("a weight shard replaced after the listing (same header, size and mtime; other bytes) is refused before it is hashed", async () => {
  const { error, d } = await publishWithSwap((dir, _outside, e) => {
    if (e.type !== "phase" || e.phase !== "connecting") return false;
    replaceKeepingMtime(join(dir, SHARD), lookalikeShard());
    return true;
  });
  assertRefused(error, d, SHARD);
  assert.deepEqual(shard1Storage(d), [], "no byte of it went to LFS storage");
});

test("a weight shard turned into a link to a file outside the folder after the listing is refused", async () => {
  const { error, d } = await publishWithSwap((dir, outside, e) => {
    if (e.type !== "phase" || e.phase !== "connecting") return false;
    writeFileSync(outside, lookalikeShard());
    rmSync(join(dir, SHARD));
    symlinkSync(outside, join(dir, SHARD));
    return true;
  });
  assertRefused(error, d, SHARD);
});

test("a weight shard replaced after its hash, before it is sent, is refused before a byte of it is sent", async () => {
  const { error, d } = await publishWithSwap((dir, _outside, e) => {
    if (e.type !== "file" || e.path !== SHARD || e.state !== "hashing" || e.bytes !== e.total) return false;
    replaceKeepingMtime(join(dir, SHARD), lookalikeShard());
    return true;
  });
  assertRefused(error, d, SHARD);
  assert.deepEqual(shard1Storage(d).filter((r) => r.method === "PUT"), [], "no PUT of it to LFS storage");
});

test("a small file turned into a link to a secret outside the folder after the listing is refused, not sent", async () => {
  let secret = "";
  const { error, d } = await publishWithSwap((dir, outside, e) => {
    if (e.type !== "phase" || e.phase !== "connecting") return false;
    const size = statSync(join(dir, "tokenizer.json")).size;
    secret = "hf_" + "S".repeat(size - 3);
    writeFileSync(outside, secret);
    rmSync(join(dir, "tokenizer.json"));
    symlinkSync(outside, join(dir, "tokenizer.json"));
    return true;
  });
  assertRefused(error, d, "tokenizer.json");
  const body = d.requests.filter((r) => r.path.includes("/commit/"));
  assert.equal(body.length, 0, "no commit request was even sent");
  assert.ok(secret.length > 3);
});
