/** `truecast diff` as a command: usage, exit codes, what does not pair up, hostile names, prefixes. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { f32, writeModelFolder, writeSafetensors } from "../support/build-model.js";

test("usage errors and unreadable sources exit 2 (1 means 'different'), with one line", async () => {
  const one = await cli(["diff", "a"]);
  assert.equal(one.code, 2);
  assert.match(one.stderr, /^truecast: `truecast diff` takes <a> <b>; usage: truecast diff <a> <b> \[options\]\n$/);
  const clash = await cli(["diff", "a", "b", "--all", "--json"]);
  assert.equal(clash.code, 2);
  assert.equal(clash.stderr, "truecast: --all cannot go with --json (--json lists every tensor); see `truecast diff --help`\n");
  const { dir, cleanup } = await tempDir();
  try {
    await writeModelFolder(join(dir, "m"), { tensors: [{ name: "w", dtype: "F32", shape: [1], data: f32([1]) }] });
    const missing = await cli(["diff", "m", "nope"], { cwd: dir });
    assert.equal(missing.code, 2);
    assert.equal(missing.stdout, "");
    assert.equal(missing.stderr, `truecast: ${join(dir, "nope")} does not exist; check the path\n`);
  } finally {
    await cleanup();
  }
});

test("help diff is the command's help; the main usage lists diff", async () => {
  const help = await cli(["help", "diff"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^truecast diff <a> <b> \[options\]\n/);
  assert.match(help.stdout, /Exit status \(like cmp and diff\): 0 when b is a bit-exact copy of a/);
  assert.match((await cli(["--help"])).stdout, /\n {2}truecast diff <a> <b> \[options\] +compare two models/);
});

test("tensors only on one side and shape mismatches are listed, names escaped; the verdict says so", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const evil = "evil\n\u001b[2Jverdict: b is a bit-exact copy of a";
    await writeSafetensors(join(dir, "a.safetensors"), [
      { name: "model.norm.weight", dtype: "F32", shape: [2], data: f32([1, 2]) },
      { name: evil, dtype: "F32", shape: [1], data: f32([1]) },
      { name: "w", dtype: "F32", shape: [2, 2], data: f32([1, 2, 3, 4]) },
    ]);
    await writeSafetensors(join(dir, "b.safetensors"), [
      { name: "model.norm.weight", dtype: "F32", shape: [2], data: f32([1, 2]) },
      { name: "w", dtype: "F32", shape: [4], data: f32([1, 2, 3, 4]) },
      { name: "y", dtype: "F32", shape: [1], data: f32([0]) },
    ]);
    const r = await cli(["diff", "a.safetensors", "b.safetensors"], { cwd: dir });
    assert.equal(r.code, 1);
    const escaped = "evil\\n\\e[2Jverdict: b is a bit-exact copy of a";
    assert.ok(r.stdout.includes(`only in a: 1 tensors\n  ${escaped}\nonly in b: 1 tensors\n  y\nshape mismatches: 1\n  w  a float32[2, 2]  b float32[4]\n`), r.stdout);
    assert.ok(r.stdout.endsWith(`verdict: 1 tensor in both, all bit-identical; but 1 tensor only in a (${escaped}), 1 tensor only in b (y), 1 shape mismatch (w)\n`), r.stdout);
    assert.equal(r.stdout.split("\n").filter((l) => l.startsWith("verdict:")).length, 1);
    const json = JSON.parse((await cli(["diff", "a.safetensors", "b.safetensors", "--json"], { cwd: dir })).stdout) as Record<string, unknown>;
    assert.deepEqual(json["onlyInA"], [evil]);
    assert.deepEqual(json["shapeMismatches"], [{ name: "w", dtypeA: "float32", dtypeB: "float32", shapeA: [2, 2], shapeB: [4] }]);
  } finally {
    await cleanup();
  }
});

test("names that differ by a wrapper prefix are paired and said to; the copy is not called identical (exit 1)", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeSafetensors(join(dir, "a.safetensors"), [{ name: "module.w", dtype: "F32", shape: [2], data: f32([1, 2]) }]);
    await writeSafetensors(join(dir, "b.safetensors"), [{ name: "w", dtype: "F32", shape: [2], data: f32([1, 2]) }]);
    const r = await cli(["diff", "a.safetensors", "b.safetensors"], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /\nnames: prefix "module\." removed from 1 name of a to pair them\n/);
    assert.ok(r.stdout.endsWith("verdict: b holds a's 1 tensor bit for bit, under names that differ by a wrapper prefix\n"));
  } finally {
    await cleanup();
  }
});

test("a few changed values in one tensor: plain differences, counted per tensor", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeSafetensors(join(dir, "a.safetensors"), [
      { name: "model.norm.weight", dtype: "F32", shape: [4], data: f32([1, 2, 3, 4]) },
      { name: "ids", dtype: "I64", shape: [2], data: new Uint8Array(new BigInt64Array([1n, 2n]).buffer) },
    ]);
    await writeSafetensors(join(dir, "b.safetensors"), [
      { name: "model.norm.weight", dtype: "F32", shape: [4], data: f32([1, 2.5, 3, 0]) },
      { name: "ids", dtype: "I64", shape: [2], data: new Uint8Array(new BigInt64Array([1n, 3n]).buffer) },
    ]);
    const r = await cli(["diff", "a.safetensors", "b.safetensors"], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /\n {2}model\.norm\.weight {2}float32\[4\] {2}changed: 2\/4 changed · 1 → 0 · max abs 4 · max rel 1 · /);
    assert.match(r.stdout, /\n {2}ids {2}int64\[2\] {2}changed: 1\/2 elements changed\n/);
    assert.ok(r.stdout.endsWith("verdict: b differs from a in 2 tensors (ids, model.norm.weight)\n"));
  } finally {
    await cleanup();
  }
});
