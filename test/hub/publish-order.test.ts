/**
 * publishFolder hashes at most two files at once (later files' hashes overlap the uploads before them, instead of
 * all hashes running side by side before any byte is sent), and a file that changes under an upload fails clearly.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { PublishEvent } from "../../src/hub/events.js";
import { FileBlob } from "../../src/hub/file-blob.js";
import { createHubFetch } from "../../src/hub/hub-fetch.js";
import { publishFolder } from "../../src/hub/publish-folder.js";
import { createUploadSession } from "../../src/hub/upload-session.js";
import { TruecastError } from "../../src/errors.js";
import { startHubDouble } from "../support/hub-double.js";
import { tempDir } from "../helpers.js";
import { writeModelFolder } from "./model-folder.js";

const SHARD1 = "model-00001-of-00002.safetensors";
const SHARD2 = "model-00002-of-00002.safetensors";

test("never more than two shards hash at once, each uploads once hashed, and all arrive", async () => {
  const d = await startHubDouble();
  const t = await tempDir();
  try {
    // Shards of 25.6 and 12.8 MB, plus a third file of shard 2's size under another name: the third hash must wait for the
    // first. All are over the 10 MB up to which a file may travel inside the commit, so all three are hashed for LFS
    // whatever the Hub says, and the first two from the start (while the Hub is asked about the token and the repo).
    await writeModelFolder(t.dir, { rows: 800_000 });
    // Another last byte: the same bytes would be one LFS object, sent twice at once (the double keeps one multipart upload per object).
    const extra = await readFile(join(t.dir, SHARD2));
    extra.writeUInt8((extra.at(-1) ?? 0) ^ 1, extra.length - 1);
    await writeFile(join(t.dir, "extra.safetensors"), extra);
    const events: PublishEvent[] = [];
    const report = await publishFolder({ folder: t.dir, repoId: "acme/ordered", token: "hf_write", endpoint: d.url, concurrency: 3, force: true, sleep: async () => undefined, onProgress: (e) => events.push(e) });
    const files = events.filter((e): e is Extract<PublishEvent, { type: "file" }> => e.type === "file");
    const lfs = ["extra.safetensors", SHARD1, SHARD2];
    // Replaying the events: how many LFS files were hashing at each moment.
    const hashing = new Set<string>();
    let most = 0;
    for (const e of files) {
      if (!lfs.includes(e.path)) continue;
      if (e.state === "hashing" && e.bytes < e.total) hashing.add(e.path);
      else hashing.delete(e.path);
      most = Math.max(most, hashing.size);
    }
    assert.ok(most >= 1 && most <= 2, `at most two hashes at once, saw ${most}`);
    for (const p of lfs) {
      const hashed = files.findIndex((e) => e.path === p && e.state === "hashing" && e.bytes === e.total);
      const uploading = files.findIndex((e) => e.path === p && e.state === "uploading");
      assert.ok(hashed >= 0 && hashed < uploading, `${p} uploads only once hashed`);
    }
    assert.deepEqual(report.files.filter((f) => f.lfs).map((f) => [f.path, f.sent]), [["extra.safetensors", true], [SHARD1, true], [SHARD2, true]]);
    assert.equal(report.shardsBitExact, 3);
  } finally {
    await d.stop();
    await t.cleanup();
  }
});

test("the smallest LFS file is hashed and sent first (the first upload waits for the shortest hash); the report keeps the folder's order", async () => {
  const d = await startHubDouble();
  const t = await tempDir();
  try {
    // Shard 2 holds one tensor, shard 1 two: shard 2 is the smaller, and comes second in the folder.
    await writeModelFolder(t.dir, { rows: 400_000 });
    const sizes = await Promise.all([SHARD1, SHARD2].map(async (p) => (await stat(join(t.dir, p))).size));
    assert.ok((sizes[1] ?? 0) < (sizes[0] ?? 0));
    const events: PublishEvent[] = [];
    // One upload at a time, so the order of the events is the order of the uploads.
    const report = await publishFolder({ folder: t.dir, repoId: "acme/smallest", token: "hf_write", endpoint: d.url, concurrency: 1, sleep: async () => undefined, onProgress: (e) => events.push(e) });
    // (Shard 1, over 10 MB, is hashed from the start, beside the calls before the first upload; the order of the uploads is what counts.)
    const firsts = [...new Set(events.flatMap((e) => (e.type === "file" && e.path.endsWith(".safetensors") && e.state !== "hashing" ? [e.path] : [])))];
    assert.deepEqual(firsts, [SHARD2, SHARD1]);
    assert.deepEqual(report.files.filter((f) => f.lfs).map((f) => f.path), [SHARD1, SHARD2]);
    assert.equal(report.shardsBitExact, 2);
  } finally {
    await d.stop();
    await t.cleanup();
  }
});

test("uploadFile calls onHashed once, for an LFS file and for a file that travels in the commit", async () => {
  const d = await startHubDouble();
  const t = await tempDir();
  try {
    await writeModelFolder(t.dir);
    const session = await createUploadSession({ repoId: "acme/hashed", token: "hf_write", endpoint: d.url, sleep: async () => undefined });
    for (const name of [SHARD1, "config.json"]) {
      let calls = 0;
      const u = await session.uploadFile(join(t.dir, name), name, { onHashed: () => calls++ });
      assert.equal(calls, 1, name);
      assert.equal(u.lfs, name === SHARD1);
    }
  } finally {
    await d.stop();
    await t.cleanup();
  }
});

test("a request body whose file changed is reported as that, once, not retried as a network error", async () => {
  const t = await tempDir();
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    req.resume();
    req.on("end", () => res.end("{}"));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  try {
    const addr = server.address();
    const origin = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
    const path = join(t.dir, SHARD1);
    await writeFile(path, Buffer.alloc(4096, 1));
    const blob = await FileBlob.open(path);
    const later = new Date(Date.now() + 60_000);
    await utimes(path, later, later);
    let retries = 0;
    const f = createHubFetch({ endpoint: origin, token: "hf_x", sleep: async () => undefined, hooks: { onRetry: () => retries++ } });
    await assert.rejects(f(`${origin}/lfs/put/x`, { method: "PUT", body: blob }), (e: unknown) => e instanceof TruecastError && e.code === "VERIFY_FAILED" && e.message.includes(path));
    assert.equal(retries, 0);
    assert.ok(requests <= 1);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
    await t.cleanup();
  }
});
