/** The library as a caller uses it: the CLI's dtype names, one call for an adapter merge, inspect by path. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixture, repoRoot, tempDir } from "../helpers.js";
import { dtypePolicy, exportModel, inspect, isTruecastError } from "../../src/index.js";

const EXAMPLE = join(repoRoot(), "examples", "tiny-llama-bf16");

test("exportModel takes the dtype names the CLI takes", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const f32 = await exportModel({ source: EXAMPLE, out: join(dir, "f32"), dtype: "float32" });
    assert.equal(f32.dtype, "F32");
    const bf16 = await exportModel({ source: join(dir, "f32"), out: join(dir, "bf16"), dtype: "bfloat16" });
    assert.equal(bf16.dtype, "BF16");
    assert.equal(bf16.bitExact, 0);
    assert.equal(dtypePolicy("torch.float16"), "F16");
    assert.equal(dtypePolicy("keep"), "keep");
    await assert.rejects(
      exportModel({ source: EXAMPLE, out: join(dir, "bad"), dtype: "int3" }),
      (e: unknown) => isTruecastError(e) && e.code === "USAGE" && /dtype "int3" is not one of keep, bfloat16, float16, float32/.test(e.message),
    );
  } finally {
    await cleanup();
  }
});

test("exportModel merges an adapter in one call, as export --adapter does", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const report = await exportModel({ source: fixture("lora", "base"), adapter: fixture("lora", "plain"), out: join(dir, "merged") });
    assert.ok(report.tensorCount > 0);
    assert.ok(report.bitExact < report.tensorCount, "the merged tensors are computed, not copied");
    const plain = await exportModel({ source: fixture("lora", "base"), out: join(dir, "plain") });
    assert.equal(plain.bitExact, plain.tensorCount);
  } finally {
    await cleanup();
  }
});

test("inspect takes a path", async () => {
  const report = await inspect(EXAMPLE);
  assert.equal(report.dtype, "BF16");
  assert.ok(report.tensorCount > 0);
  assert.equal(report.config?.matches, false, "the example's config.json claims float16");
});

test("diff compares two paths from the library, with the CLI's verdict", async () => {
  const { diff: diffPaths } = await import("../../src/index.js");
  const r = await diffPaths({ a: fixture("diff", "bf16-bin"), b: fixture("diff", "bf16") });
  assert.deepEqual(r.verdict, { code: "IDENTICAL", severity: "ok", text: "b is a bit-exact copy of a", identical: true });
  assert.equal(r.counts.bitIdentical, 21);
});
