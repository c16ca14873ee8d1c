/**
 * A Hub repo read in place through the double: listing with LFS sha256 at a pinned commit, reads bit-identical to
 * the files, the request count of reading headers (the speculative first block), streamed chunks, and the token
 * kept off the storage host.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseHeader } from "../../src/formats/safetensors/header.js";
import { openStore } from "../../src/store/open-store.js";
import { readWholeFile } from "../../src/store/store.js";
import { DEFAULT_BLOCK_SIZE, type HubStore } from "../../src/store/hub-store.js";
import { startHubDouble } from "../support/hub-double.js";
import { hubEnv, repoFiles, seedRepo, sha256 } from "./hub-repo-fixture.js";

test("the listing is the tree at the pinned commit, LFS files with their sha256; a later push changes nothing read", async () => {
  const d = await startHubDouble();
  try {
    const repo = await seedRepo(d, "acme/tiny", repoFiles(2));
    const store = (await openStore("hf://acme/tiny", { env: await hubEnv(d) })) as HubStore;
    assert.equal(store.remote, true);
    assert.equal(store.label, "hf://acme/tiny@main");
    assert.equal(store.commit, repo.commit);
    const expected = Object.entries(repo.files)
      .map(([path, b]) => ({ path, size: b.byteLength, ...(path.endsWith(".safetensors") ? { sha256: sha256(b) } : {}) }))
      .sort((a, b) => (a.path < b.path ? -1 : 1));
    // A push after opening: the store still reads the commit it pinned.
    await d.state.seed("acme/tiny", { "config.json": Buffer.from("{\"changed\": true}") });
    assert.deepEqual(await store.list(), expected, ".gitattributes (hidden) is left out");
    assert.deepEqual(Buffer.from(await readWholeFile(store, "config.json", 1 << 20)), Buffer.from(repo.files["config.json"] ?? []));
    await assert.rejects(store.open("nope.bin"), (e: Error & { code?: string }) => e.code === "NOT_FOUND" && /no file nope\.bin/.test(e.message));
  } finally {
    await d.stop();
  }
});

test("positional reads and chunks are bit-identical to the file, across block edges, near the end and whole", async () => {
  const d = await startHubDouble();
  try {
    const repo = await seedRepo(d, "acme/tiny", repoFiles(1));
    const name = "model-00001-of-00001.safetensors";
    const bytes = Buffer.from(repo.files[name] ?? []);
    const store = await openStore("hf://acme/tiny", { env: await hubEnv(d), blockSize: 64 * 1024 });
    const f = await store.open(name);
    assert.equal(f.size, bytes.length);
    const reads: Array<[number, number]> = [
      [0, 8], [8, 100], [65_530, 20], [65_536, 1], [200_000, 70_000], [bytes.length - 22, 22], [bytes.length - 5, 100],
      [123_457, 1_000_000], [0, bytes.length], [bytes.length, 10],
    ];
    for (const [pos, len] of reads) {
      assert.deepEqual(Buffer.from(await f.read(pos, len)), bytes.subarray(pos, Math.min(bytes.length, pos + len)), `read(${pos}, ${len})`);
    }
    const parts: Buffer[] = [];
    for await (const c of f.chunks(1000, 1_500_000, 300_000)) parts.push(Buffer.from(c));
    assert.deepEqual(parts.map((p) => p.length), [300_000, 300_000, 300_000, 300_000, 300_000]);
    assert.deepEqual(Buffer.concat(parts), bytes.subarray(1000, 1_501_000));
    await assert.rejects(async () => {
      for await (const _ of f.chunks(bytes.length - 10, 11, 4)) void _;
    }, { code: "ST_TRUNCATED" });
    await f.close();
  } finally {
    await d.stop();
  }
});

test("a 30-shard repo from headers alone: revision + tree + config + index + one request per shard header (34)", async () => {
  const d = await startHubDouble();
  try {
    const shards = 30;
    const repo = await seedRepo(d, "acme/sharded", repoFiles(shards, 40, 4 * 1024));
    const store = await openStore("hf://acme/sharded@main", { env: await hubEnv(d) });
    const entries = await store.list();
    await readWholeFile(store, "config.json", 1 << 20);
    const index = JSON.parse(Buffer.from(await readWholeFile(store, "model.safetensors.index.json", 1 << 24)).toString()) as { weight_map: Record<string, string> };
    let tensors = 0;
    for (const e of entries.filter((x) => x.path.endsWith(".safetensors"))) {
      const f = await store.open(e.path);
      const prefix = await f.read(0, 8);
      const n = Number(new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true));
      const header = parseHeader({ prefix, headerBytes: await f.read(8, n), fileSize: f.size, file: e.path });
      tensors += header.entries.length;
      await f.close();
    }
    assert.equal(tensors, Object.keys(index.weight_map).length);
    assert.equal(store.stats().requests, 4 + shards, "revision, tree, config.json, index, then one per shard");
    assert.ok(store.stats().requests <= 35, "issue 11's target");
    const hub = d.requests.filter((r) => r.server === "hub");
    const storage = d.requests.filter((r) => r.server === "storage");
    assert.equal(hub.length, 4 + shards);
    assert.equal(storage.length, shards, "each shard's header block is one redirect to the storage host");
    assert.ok(storage.every((r) => r.headers.range === "bytes=0-262143"), "the first read fetched the speculative block");
    const shardBytes = Object.entries(repo.files).filter(([p]) => p.endsWith(".safetensors")).reduce((s, [, b]) => s + b.byteLength, 0);
    const small = Object.entries(repo.files).filter(([p]) => !p.endsWith(".safetensors")).reduce((s, [, b]) => s + b.byteLength, 0);
    assert.ok(store.stats().bytesRead <= shards * DEFAULT_BLOCK_SIZE + small + 64 * 1024, `${store.stats().bytesRead} bytes read of ${shardBytes}: one block a shard, not its weights`);
  } finally {
    await d.stop();
  }
});

test("a header larger than the read-ahead block costs one more request, for the rest only", async () => {
  const d = await startHubDouble();
  try {
    const repo = await seedRepo(d, "acme/wide", repoFiles(1, 120, 64));
    const name = "model-00001-of-00001.safetensors";
    const bytes = Buffer.from(repo.files[name] ?? []);
    const n = Number(bytes.readBigUInt64LE(0));
    assert.ok(n > 4096 && n < 3 * 4096, `header of ${n} bytes`);
    const store = await openStore("hf://acme/wide", { env: await hubEnv(d), blockSize: 4096 });
    const before = store.stats().requests;
    const f = await store.open(name);
    await f.read(0, 8);
    assert.deepEqual(Buffer.from(await f.read(8, n)), bytes.subarray(8, 8 + n));
    assert.equal(store.stats().requests - before, 1 + 2, "tree, then the first block, then the header's remainder");
    assert.equal(d.requests.filter((r) => r.server === "storage").at(-1)?.headers.range, `bytes=4096-${8 + n - 1}`);
  } finally {
    await d.stop();
  }
});

test("reads of one block at the same time share one request", async () => {
  const d = await startHubDouble();
  try {
    const repo = await seedRepo(d, "acme/tiny", repoFiles(1));
    const name = "model-00001-of-00001.safetensors";
    const bytes = Buffer.from(repo.files[name] ?? []);
    const store = await openStore("hf://acme/tiny", { env: await hubEnv(d) });
    const f = await store.open(name);
    const before = store.stats().requests;
    const [a, b, c] = await Promise.all([f.read(0, 8), f.read(8, 100), f.read(1000, 5000)]);
    assert.deepEqual([a, b, c].map((x) => Buffer.from(x)), [bytes.subarray(0, 8), bytes.subarray(8, 108), bytes.subarray(1000, 6000)]);
    assert.equal(store.stats().requests - before, 1);
  } finally {
    await d.stop();
  }
});

test("the token goes to the Hub's origin only: the storage host it redirects to never sees it", async () => {
  const d = await startHubDouble();
  try {
    const repo = await seedRepo(d, "acme/private", repoFiles(2), { private: true });
    const store = await openStore("hf://acme/private", { env: await hubEnv(d, { HF_TOKEN: "hf_read" }) });
    for (const e of await store.list()) {
      const f = await store.open(e.path);
      assert.equal(sha256(await f.read(0, f.size)), sha256(repo.files[e.path] ?? new Uint8Array()));
    }
    const storage = d.requests.filter((r) => r.server === "storage");
    assert.ok(storage.length >= 2);
    assert.ok(storage.every((r) => r.headers.authorization === undefined), "no Authorization header on the storage host");
    assert.ok(d.requests.filter((r) => r.server === "hub").every((r) => r.headers.authorization === "<present>"));
  } finally {
    await d.stop();
  }
});
