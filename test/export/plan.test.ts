import { test } from "node:test";
import assert from "node:assert/strict";
import { parseHeader, readHeaderSize } from "../../src/formats/safetensors/header.js";
import { planExport, shardFileName } from "../../src/export/plan.js";
import type { DType } from "../../src/dtype/table.js";
import type { TensorRef } from "../../src/sources/tensor-ref.js";

function ref(name: string, dtype: DType, shape: number[], size: number): TensorRef {
  const byteLength = shape.reduce((a, b) => a * b, 1) * size;
  return {
    name,
    dtype,
    shape,
    byteLength,
    origin: "test",
    async *chunks() {
      yield new Uint8Array(byteLength);
    },
  };
}

test("one shard is model.safetensors and needs no index", () => {
  const plan = planExport({ tensors: [ref("a", "BF16", [4, 4], 2), ref("b", "F32", [3], 4)], policy: "keep" });
  assert.equal(plan.shards.length, 1);
  assert.equal(plan.sharded, false);
  assert.equal(plan.shards[0]?.fileName, "model.safetensors");
  assert.equal(plan.totalSize, 32 + 12);
  // The reference layout: larger alignment first (F32 before BF16).
  assert.deepEqual(plan.shards[0]?.tensors.map((t) => [t.entry.name, t.entry.begin, t.entry.end]), [["b", 0, 12], ["a", 12, 44]]);
});

test("shards split in source order when the next tensor would pass the limit", () => {
  const tensors = ["t0", "t1", "t2", "t3", "t4"].map((n) => ref(n, "BF16", [50], 2)); // 100 bytes each
  const plan = planExport({ tensors, policy: "keep", maxShardSize: 250 });
  assert.deepEqual(plan.shards.map((s) => s.tensors.map((t) => t.entry.name)), [["t0", "t1"], ["t2", "t3"], ["t4"]]);
  assert.deepEqual(plan.shards.map((s) => s.fileName), [
    "model-00001-of-00003.safetensors",
    "model-00002-of-00003.safetensors",
    "model-00003-of-00003.safetensors",
  ]);
  assert.equal(plan.weightMap.get("t4"), "model-00003-of-00003.safetensors");
  // A shard exactly at the limit is allowed.
  const exact = planExport({ tensors, policy: "keep", maxShardSize: 200 });
  assert.equal(exact.shards.length, 3);
  assert.equal(exact.shards[0]?.dataSize, 200);
});

test("a tensor larger than the limit gets a shard of its own", () => {
  const plan = planExport({
    tensors: [ref("small1", "BF16", [10], 2), ref("huge", "BF16", [1000], 2), ref("small2", "BF16", [10], 2)],
    policy: "keep",
    maxShardSize: 100,
  });
  const groups = plan.shards.map((s) => s.tensors.map((t) => t.entry.name));
  assert.deepEqual(groups, [["huge"], ["small1", "small2"]]);
  assert.equal(plan.shards[0]?.dataSize, 2000);
});

test("zero-size tensors and 0-rank scalars are planned", () => {
  const plan = planExport({ tensors: [ref("empty", "F32", [0, 5], 4), ref("scalar", "I64", [], 8)], policy: "keep" });
  const shard = plan.shards[0];
  assert.ok(shard);
  assert.equal(shard.dataSize, 8);
  const header = parseHeader({
    prefix: shard.header.subarray(0, 8),
    headerBytes: shard.header.subarray(8),
    fileSize: shard.fileSize,
    file: "x",
  });
  assert.deepEqual(header.entries.map((e) => [e.name, e.shape]), [["scalar", []], ["empty", [0, 5]]]);
  assert.equal(readHeaderSize({ prefix: shard.header.subarray(0, 8), fileSize: shard.fileSize, file: "x" }), shard.header.byteLength - 8);
});

test("an empty model plans one empty shard", () => {
  const plan = planExport({ tensors: [], policy: "keep" });
  assert.equal(plan.shards.length, 1);
  assert.equal(plan.totalSize, 0);
});

test("a dtype policy converts floating tensors only and resizes them", () => {
  const plan = planExport({
    tensors: [ref("w", "F32", [8], 4), ref("ids", "I64", [2], 8), ref("mask", "BOOL", [3], 1), ref("h", "F16", [2], 2)],
    policy: "BF16",
  });
  const out = new Map(plan.shards[0]?.tensors.map((t) => [t.entry.name, [t.outDtype, t.entry.end - t.entry.begin]]));
  assert.deepEqual(out.get("w"), ["BF16", 16]);
  assert.deepEqual(out.get("h"), ["BF16", 4]);
  assert.deepEqual(out.get("ids"), ["I64", 16]);
  assert.deepEqual(out.get("mask"), ["BOOL", 3]);
  assert.equal(plan.totalSize, 16 + 4 + 16 + 3);
});

test("sizes after conversion decide the sharding", () => {
  const tensors = ["a", "b"].map((n) => ref(n, "F32", [25], 4)); // 100 bytes each as F32, 50 as BF16
  assert.equal(planExport({ tensors, policy: "keep", maxShardSize: 100 }).shards.length, 2);
  assert.equal(planExport({ tensors, policy: "BF16", maxShardSize: 100 }).shards.length, 1);
});

test("two tensors of one name are refused", () => {
  assert.throws(() => planExport({ tensors: [ref("a", "F32", [1], 4), ref("a", "F32", [1], 4)], policy: "keep" }), { code: "DUPLICATE_TENSOR" });
});

test("shard names are 5-digit and 1-based", () => {
  assert.equal(shardFileName(0, 1), "model.safetensors");
  assert.equal(shardFileName(9, 12), "model-00010-of-00012.safetensors");
});
