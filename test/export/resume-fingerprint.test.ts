/**
 * The fingerprint that lets an interrupted `export --push` resume (resume-fingerprint.ts), and the shard records a
 * resumed run reports from (shard-record.ts): the same inputs give the same fingerprint; any input that can change a
 * shard's bytes (a weight file, an adapter_config.json beside it, the dtype, the shard size) gives another; a record
 * is restored only onto exactly the shard it describes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { openSource } from "../../src/sources/open.js";
import { planExport, type DtypePolicy } from "../../src/export/plan.js";
import { exportFingerprint } from "../../src/export/resume-fingerprint.js";
import { restoreShard, shardRecord } from "../../src/export/shard-record.js";
import { WrittenShard } from "../../src/export/written.js";
import { bf16Weights, writeModelFolder } from "../support/build-model.js";
import { tempDir } from "../helpers.js";

async function fingerprintOf(dir: string, opts: { policy?: DtypePolicy; maxShardSize?: number; inputs?: string[] } = {}): Promise<string> {
  const model = await openSource(dir);
  try {
    const policy = opts.policy ?? "keep";
    const plan = planExport({ tensors: model.tensors, policy, maxShardSize: opts.maxShardSize ?? 5_000 });
    return await exportFingerprint({ model, plan, policy, inputs: opts.inputs ?? [dir] });
  } finally {
    await model.close();
  }
}

test("the fingerprint is stable for the same inputs and changes with every input that can change a shard's bytes", async () => {
  const t = await tempDir();
  try {
    const dir = join(t.dir, "m");
    await writeModelFolder(dir, {
      tensors: [
        { name: "a.weight", dtype: "BF16", shape: [2048], data: bf16Weights(2048, 1) },
        { name: "b.weight", dtype: "BF16", shape: [2048], data: bf16Weights(2048, 2) },
      ],
      config: { architectures: ["LlamaForCausalLM"], torch_dtype: "bfloat16" },
    });
    const base = await fingerprintOf(dir);
    assert.match(base, /^[0-9a-f]{64}$/);
    assert.equal(await fingerprintOf(dir), base, "same inputs, same fingerprint");
    assert.notEqual(await fingerprintOf(dir, { policy: "F32" }), base, "another dtype");
    assert.notEqual(await fingerprintOf(dir, { maxShardSize: 100_000 }), base, "other shard boundaries");
    // A file beside the weights (an adapter_config.json, cfg.yaml) can change merged bytes: any change counts.
    const adapter = join(t.dir, "adapter");
    await writeModelFolder(adapter, { tensors: [{ name: "x", dtype: "BF16", shape: [4], data: bf16Weights(4, 3) }] });
    await writeFile(join(adapter, "adapter_config.json"), '{"r": 8, "lora_alpha": 16}');
    const withAdapter = await fingerprintOf(dir, { inputs: [dir, adapter] });
    assert.notEqual(withAdapter, base);
    await writeFile(join(adapter, "adapter_config.json"), '{"r": 8, "lora_alpha": 32}');
    assert.notEqual(await fingerprintOf(dir, { inputs: [dir, adapter] }), withAdapter, "the adapter's config changed");
    // A weight file rewritten with the same size and its old modification time put back: still another fingerprint.
    const weights = join(dir, "model.safetensors");
    const before = await fingerprintOf(dir);
    const bytes = await readFile(weights);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    await writeFile(weights, bytes);
    await utimes(weights, new Date(0), new Date(0));
    assert.notEqual(await fingerprintOf(dir), before, "rewritten in place");
  } finally {
    await t.cleanup();
  }
});

test("a shard record round-trips through JSON (an infinite error included) and is refused on any other shard", async () => {
  const refs = ["a", "b"].map((name) => ({
    name, dtype: "F32" as const, shape: [4], byteLength: 16, origin: "test",
    async *chunks() {
      yield new Uint8Array(16);
    },
  }));
  const plan = planExport({ tensors: refs, policy: "F16" });
  const shard = plan.shards[0];
  assert.ok(shard);
  const written = new WrittenShard(shard);
  const cast = { from: "F32" as const, to: "F16" as const, elements: 4, changed: 1, toInfinity: 1, toZero: 0, toSubnormal: 0, nan: 0, maxAbsError: Infinity, maxRelError: Infinity };
  written.add(0, "xxh3-64:0123456789abcdef", cast);
  written.add(1, "xxh3-64:fedcba9876543210", { ...cast, changed: 0, toInfinity: 0, maxAbsError: 0, maxRelError: 0 });
  const record = JSON.parse(JSON.stringify(shardRecord(written, { tensors: 2, bytes: shard.dataSize }))) as unknown;
  const back = restoreShard(shard, record);
  assert.ok(back);
  assert.deepEqual(back.written.list(), written.list());
  assert.deepEqual(back.verified, { tensors: 2, bytes: shard.dataSize });
  // Another plan (kept dtype: no loss reports expected), a digest that is not one, a count that does not fit.
  const kept = planExport({ tensors: refs, policy: "keep" }).shards[0];
  assert.ok(kept);
  assert.equal(restoreShard(kept, record), null);
  const r = record as { digests: string[]; verified: { tensors: number } };
  assert.equal(restoreShard(shard, { ...r, digests: ["nope", r.digests[1]] }), null);
  assert.equal(restoreShard(shard, { ...r, verified: { tensors: 1, bytes: shard.dataSize } }), null);
  assert.equal(restoreShard(shard, null), null);
});
