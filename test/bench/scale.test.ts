/**
 * The scale benchmark's machinery (bench/scale-run.ts) at a tiny size, so that it cannot rot: the generated model
 * served by the double, the raw clients, `truecast export hf://… --push` to the sink double, and the checks that
 * every published shard reached the sink with the sha256 truecast reports. No time is asserted.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { diskUse, runScaleBench, sampleDiskUse } from "../../bench/scale-run.js";
import { generateModel, shardChunks, type GeneratedShard } from "../../bench/scale-model.js";
import { startHubDouble } from "../support/hub-double.js";
import { cli } from "../support/cli.js";
import { tempDir } from "../helpers.js";

const TINY = { layers: 1, hidden: 256, intermediate: 512, heads: 4, kvHeads: 2, vocab: 1000, shards: 2 };

/** The first materialised bytes of a generated shard (the safetensors header). */
function headerOf(s: GeneratedShard | undefined): Uint8Array {
  const first = s?.segments[0];
  assert.ok(first !== undefined && "bytes" in first);
  return first.bytes;
}

test("generated shards: a valid safetensors header, the data of the 70B layout, the same bytes for any split of a range", () => {
  const full = generateModel({ layers: 80, hidden: 8192, intermediate: 28672, heads: 64, kvHeads: 8, vocab: 32000, shards: 15 });
  assert.equal(full.shards.length, 15);
  assert.equal(full.shards.reduce((n, s) => n + s.tensors.length, 0), 3 + 80 * 9);
  assert.equal(full.tensorBytes, 137_953_296_384);
  const index = JSON.parse(new TextDecoder().decode(full.small["model.safetensors.index.json"])) as { weight_map: Record<string, string> };
  assert.equal(index.weight_map["model.layers.79.self_attn.k_proj.weight"], "model-00015-of-00015.safetensors");
  const header = new TextDecoder().decode(headerOf(full.shards[0]).subarray(8));
  assert.match(header, /"model.embed_tokens.weight":\{"dtype":"BF16","shape":\[32000,8192\]/);
  assert.match(new TextDecoder().decode(headerOf(full.shards[14]).subarray(8)), /"lm_head.weight":\{"dtype":"BF16","shape":\[32000,8192\]/);

  const s = generateModel(TINY).shards[1];
  assert.ok(s);
  const whole = Buffer.concat([...shardChunks(s, 0, s.size)]);
  assert.equal(whole.length, s.size);
  assert.deepEqual(whole.subarray(0, headerOf(s).byteLength), Buffer.from(headerOf(s)));
  const a = 3 * 2 ** 20 - 7;
  const b = Math.min(s.size, a + 2 ** 20 + 13);
  if (a < s.size) assert.deepEqual(Buffer.concat([...shardChunks(s, a, b)]), whole.subarray(a, b));
  assert.deepEqual(Buffer.concat([...shardChunks(s, 5, 100)]), whole.subarray(5, 100));
  assert.ok(whole.subarray(headerOf(s).byteLength).some((x) => x !== 0));
});

test("the sink double hashes what it receives and refuses bytes that are not the oid's", async () => {
  const d = await startHubDouble({ sink: { keepBytes: 4 } });
  try {
    const body = Buffer.from("hello, sink");
    const oid = createHash("sha256").update(body).digest("hex");
    const put = (o: string) => fetch(`${d.storageUrl}/lfs/put/${o}?size=${body.length}`, { method: "PUT", body });
    assert.equal((await put("0".repeat(64))).status, 400);
    assert.equal((await put(oid)).status, 200);
    assert.deepEqual(d.sink?.received.map((r) => [r.oid, r.sha256, r.bytes]), [["0".repeat(64), oid, 11], [oid, oid, 11]]);
    assert.equal(d.state.objects.get(oid), 11);
    assert.deepEqual(d.state.heads.get(oid), new Uint8Array(body.subarray(0, 4)));
  } finally {
    await d.stop();
  }
});

test("disk use sampler: counts the blocks of every file below the folder and keeps the peak", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const s = sampleDiskUse(dir, 60_000);
    await writeFile(join(dir, "a"), Buffer.alloc(3 * 2 ** 20, 1));
    await s.sample();
    await rm(join(dir, "a"));
    assert.equal(await diskUse(dir), 0);
    const { peak, samples } = await s.stop();
    assert.ok(peak >= 3 * 2 ** 20, `peak ${peak}`);
    assert.ok(samples >= 2);
  } finally {
    await cleanup();
  }
});

test("scale bench at a tiny size: raw read and PUT move the model, the export --push lands in the sink with truecast's sha256", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    // 300 KB shards of a 2 MB model: several shards, each a multipart upload of 64 KiB parts.
    const r = await runScaleBench({ shape: TINY, dir, maxShardSize: "300KB", runs: 1, multipartThreshold: 64 * 1024, partSize: 64 * 1024 });
    assert.equal(r.shards, 2);
    assert.equal(r.tensors, 12);
    const c = r.conversion[0];
    assert.ok(c);
    assert.ok(c.shardsChecked >= 5, `${c.shardsChecked} shards`);
    assert.ok(c.files > c.shardsChecked);
    assert.ok(c.largestShard > 0);
    assert.ok(c.peakDisk <= c.diskLimit, `peak disk ${c.peakDisk} > ${c.diskLimit}`);
    assert.ok(c.diskSamples >= 2);
    assert.equal(r.read.length, 1);
    assert.equal(r.put.length, 1);
  } finally {
    await cleanup();
  }
});

test("scale bench, pickle form at a tiny size: one pull request on the source adds the local export's safetensors bit for bit and deletes the pickles", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const r = await runScaleBench({ shape: TINY, format: "bin", dir, maxShardSize: "300KB", runs: 1, multipartThreshold: 64 * 1024, partSize: 64 * 1024 });
    assert.equal(r.shards, 2);
    const c = r.conversion[0];
    assert.ok(c?.pullRequest);
    assert.equal(c.pullRequest.commits, 1);
    const prFiles = Object.keys(c.pullRequest.files).sort();
    assert.deepEqual(prFiles.filter((p) => p.endsWith(".bin") || p.startsWith("pytorch_model")), []);

    // The same repo exported locally: its files are what the pull request holds, byte for byte (LFS oids and published sha256).
    const src = join(dir, "local-src");
    const out = join(dir, "local-out");
    await mkdir(src);
    const m = generateModel(TINY, { format: "bin" });
    for (const s of m.shards) await writeFile(join(src, s.name), Buffer.concat([...shardChunks(s, 0, s.size)]));
    for (const [name, bytes] of Object.entries(m.small)) await writeFile(join(src, name), bytes);
    const e = await cli(["export", src, out, "--max-shard-size", "300KB", "--quiet"]);
    assert.equal(e.code, 0, e.stderr);
    const weights = (await readdir(out)).filter((f) => f.endsWith(".safetensors") || f === "model.safetensors.index.json").sort();
    assert.ok(weights.length >= 6, weights.join(", "));
    assert.deepEqual(prFiles.filter((p) => p.startsWith("model")), weights);
    const published = new Map(c.published.map((f) => [f.path, f.sha256]));
    for (const f of weights) {
      const digest = createHash("sha256").update(await readFile(join(out, f))).digest("hex");
      assert.equal(published.get(f), digest, f);
      if (f.endsWith(".safetensors")) assert.equal(c.pullRequest.files[f], digest, f);
    }
  } finally {
    await cleanup();
  }
});
