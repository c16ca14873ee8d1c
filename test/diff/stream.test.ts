/**
 * Streaming: however each side cuts its chunks, the same elements are compared; a side that ends early is an error;
 * two large tensors are compared in flat memory (peak RSS of the CLI in a child process, tensors generated here).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, open } from "node:fs/promises";
import { join } from "node:path";
import { createCaster } from "../../src/dtype/cast.js";
import { serializeHeader, layoutTensors } from "../../src/formats/safetensors/header.js";
import { compareTensors } from "../../src/diff/compare-tensors.js";
import type { TensorRef } from "../../src/sources/tensor-ref.js";
import { tempDir } from "../helpers.js";
import { cliChild } from "../support/cli-child.js";

/** A tensor over `bytes` whose chunks are cut at the given sizes (cycled), whatever size is asked. */
function ragged(name: string, dtype: "F32" | "BF16", bytes: Uint8Array, cuts: readonly number[], shape = [bytes.byteLength / (dtype === "F32" ? 4 : 2)]): TensorRef {
  return {
    name,
    dtype,
    shape,
    byteLength: bytes.byteLength,
    origin: "test",
    async *chunks() {
      for (let at = 0, i = 0; at < bytes.byteLength; i++) {
        const n = Math.min(cuts[i % cuts.length] ?? 4, bytes.byteLength - at);
        yield bytes.slice(at, at + n);
        at += n;
      }
    },
  };
}

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = ((x >>> 8) / 2 ** 24 - 0.5) * 0.1;
  }
  return out;
}

test("chunks cut differently on each side compare the same elements as whole reads", async () => {
  const a = values(1000, 1);
  const b = new Float32Array(a);
  b[999] = 7; // the last element
  b[3] = a[3] as number * (1 + 2 ** -20);
  const bytesA = new Uint8Array(a.buffer);
  const bytesB = new Uint8Array(b.buffer);
  const whole = await compareTensors({ a: ragged("t", "F32", bytesA, [4000]), b: ragged("t", "F32", bytesB, [4000]) });
  const cut = await compareTensors({ a: ragged("t", "F32", bytesA, [4, 12, 1000, 8]), b: ragged("t", "F32", bytesB, [64, 4, 36]), chunkBytes: 64 });
  assert.equal(whole.values?.changed, 2);
  assert.deepEqual(cut, whole);
  // bfloat16 against float32, cut at odd places: the cast check still pairs each element with its own.
  const caster = createCaster("F32", "BF16");
  const narrow = caster.cast(bytesA);
  const r = await compareTensors({ a: ragged("t", "F32", bytesA, [12, 4, 400]), b: ragged("t", "BF16", narrow, [2, 6, 100]), chunkBytes: 32 });
  assert.deepEqual(r.values?.cast, { from: "a", notNearestEven: 0 });
  assert.equal(r.values?.changed, caster.report().changed);
});

test("a side whose bytes end before its shape says is an error naming both tensors", async () => {
  const bytes = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
  const short = { ...ragged("t", "F32", bytes.subarray(0, 8), [8]), shape: [4], byteLength: 16 };
  await assert.rejects(compareTensors({ a: ragged("t", "F32", bytes, [16]), b: short }), (e: Error & { code?: string }) => {
    assert.equal(e.code, "UNREADABLE");
    assert.match(e.message, /^test: t \/ test: t: the tensor's bytes end before its shape says; the file is truncated or damaged$/);
    return true;
  });
});

/** One tensor of `elements` values, written in pieces (the test holds no whole copy either). */
async function writeLarge(path: string, dtype: "F32" | "BF16", elements: number, piece: (start: number, n: number) => Uint8Array): Promise<void> {
  const size = dtype === "F32" ? 4 : 2;
  const entries = layoutTensors([{ name: "model.embed_tokens.weight", dtype, shape: [elements / 1024, 1024], byteLength: elements * size }]);
  const fh = await open(path, "w");
  try {
    await fh.write(serializeHeader(entries, { format: "pt" }));
    const step = 1 << 20;
    for (let start = 0; start < elements; start += step) await fh.write(piece(start, Math.min(step, elements - start)));
  } finally {
    await fh.close();
  }
}

test("two large tensors (128 MB float32 against its 64 MB bfloat16 cast, and against a copy) compare in flat memory", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const elements = 32 * 1024 * 1024;
    const piece = (start: number, n: number) => new Uint8Array(values(n, start + 1).buffer);
    await writeLarge(join(dir, "a.safetensors"), "F32", elements, piece);
    const caster = createCaster("F32", "BF16");
    await writeLarge(join(dir, "b.safetensors"), "BF16", elements, (start, n) => caster.cast(piece(start, n)));
    await copyFile(join(dir, "a.safetensors"), join(dir, "c.safetensors"));
    const fh = await open(join(dir, "c.safetensors"), "r+");
    await fh.write(new Uint8Array(new Float32Array([1e30]).buffer), 0, 4, (await fh.stat()).size - 4);
    await fh.close();

    // Holding both whole tensors would take 192 MB beside Node itself (about 45 MB); streaming takes a few 8 MB chunks.
    const limit = 180 * 1024 * 1024;
    const cast = await cliChild(["diff", "a.safetensors", "b.safetensors", "--json"], { cwd: dir, env: {} });
    assert.equal(cast.code, 1, cast.rawStderr);
    const report = JSON.parse(cast.stdout) as { verdict: { code: string }; tensors: { values: { elements: number; changed: number } }[] };
    assert.equal(report.verdict.code, "CLEAN_CAST");
    assert.equal(report.tensors[0]?.values.elements, elements);
    assert.equal(report.tensors[0]?.values.changed, caster.report().changed);
    assert.ok((cast.maxRssBytes ?? Infinity) < limit, `peak RSS ${cast.maxRssBytes}`);

    const copy = await cliChild(["diff", "a.safetensors", "c.safetensors", "--json"], { cwd: dir, env: {} });
    assert.equal(copy.code, 1, copy.rawStderr);
    const changed = JSON.parse(copy.stdout) as { verdict: { text: string }; tensors: { values: { changed: number; maxAbsError: number } }[] };
    assert.equal(changed.verdict.text, "b differs from a in 1 tensor (model.embed_tokens.weight)");
    assert.equal(changed.tensors[0]?.values.changed, 1);
    assert.ok((copy.maxRssBytes ?? Infinity) < limit, `peak RSS ${copy.maxRssBytes}`);
  } finally {
    await cleanup();
  }
});
