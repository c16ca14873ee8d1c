/**
 * Conversions in the cast workers' shared memory (cast-arena.ts): chunks read into it are converted in place by
 * the workers' SIMD kernels and written from it, with the same bytes and the same loss report as the JavaScript
 * kernels, whether input, output, both or neither lie there; and an export gives every buffer back.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { kernelFor } from "../../src/dtype/kernels/index.js";
import { Tally } from "../../src/dtype/tally.js";
import type { CastReport } from "../../src/dtype/report.js";
import type { FloatDType } from "../../src/dtype/table.js";
import { BufferPool } from "../../src/export/buffer-pool.js";
import { MIN_RESIDENT_BYTES } from "../../src/export/cast-arena.js";
import { CastPool } from "../../src/export/cast-pool.js";
import { planExport } from "../../src/export/plan.js";
import { CHUNK_SIZE, writeShard } from "../../src/export/write-shard.js";
import type { TensorRef } from "../../src/sources/tensor-ref.js";
import { tempDir } from "../helpers.js";
import { all16, f32SweepInput } from "../dtype/simd-inputs.js";
import { randomBytes } from "../support/build-model.js";

const SIZE: Record<FloatDType, number> = { F16: 2, BF16: 2, F32: 4, F64: 8 };

/** The JavaScript kernel's bytes and report for all of `input`. */
function jsCast(from: FloatDType, to: FloatDType, input: Uint8Array): { out: Uint8Array; report: CastReport } {
  const kernel = kernelFor(from, to, null);
  const tally = new Tally(from, to);
  const out = new Uint8Array((input.byteLength / SIZE[from]) * SIZE[to]);
  kernel.convert(input, out, tally);
  tally.elements += input.byteLength / SIZE[from];
  kernel.flush(tally);
  return { out, report: tally.report() };
}

function inputFor(from: FloatDType): Uint8Array {
  if (from === "F32") return new Uint8Array(f32SweepInput(3 * 16384 + 77, 41).buffer);
  // every 16-bit pattern, then 3 more for a tail past the last 8-element step
  const all = all16();
  const out = new Uint16Array(all.length + 3);
  out.set(all);
  out.set([0x7fc1, 0x8001, 0x3c00], all.length);
  return new Uint8Array(out.buffer);
}

test("a chunk in the shared memory is converted in place on a worker: JS kernel's bytes and report, nothing moved", async () => {
  const pool = new CastPool(2);
  try {
    for (const [from, to] of [["F32", "BF16"], ["F32", "F16"], ["BF16", "F32"], ["F16", "F32"]] as const) {
      const data = inputFor(from);
      const js = jsCast(from, to, data);
      for (const where of ["both", "input", "output", "neither"] as const) {
        const input = (where === "both" || where === "input" ? pool.alloc(data.byteLength) : null) ?? new Uint8Array(data.byteLength);
        input.set(data);
        const output = (where === "both" || where === "output" ? pool.alloc(js.out.byteLength) : null) ?? new Uint8Array(js.out.byteLength);
        assert.equal(input.buffer instanceof SharedArrayBuffer, where === "both" || where === "input", `${where}: input placed`);
        assert.equal(output.buffer instanceof SharedArrayBuffer, where === "both" || where === "output", `${where}: output placed`);
        const r = await pool.cast(from, to, input, output);
        const label = `${from} → ${to}, ${where} in the shared memory`;
        assert.equal(Buffer.compare(Buffer.from(r.output.buffer, r.output.byteOffset, r.output.byteLength), Buffer.from(js.out)), 0, `${label}: bytes`);
        assert.deepEqual(r.report, js.report, `${label}: report`);
        // a buffer in the shared memory is never sent: the caller gets back the very view it passed
        if (where === "both" || where === "input") assert.equal(r.input, input, `${label}: input view kept`);
        if (where === "both" || where === "output") assert.equal(r.output, output, `${label}: output view kept`);
        pool.release(r.input);
        pool.release(r.output);
        assert.equal(pool.residentBytes, 0, `${label}: all given back`);
      }
    }
  } finally {
    await pool.close();
  }
});

test("an F32 → BF16 export reads, converts and writes in the shared memory: JS kernel's bytes and report, every buffer given back", async () => {
  const { dir, cleanup } = await tempDir();
  const pool = new CastPool(2);
  try {
    // 2.5 chunks, and a tensor under a chunk: full chunks, a tail, and a chunk that is a whole tensor
    const big = new Uint8Array(f32SweepInput((CHUNK_SIZE * 2.5) / 4 + 19, 43).buffer);
    const small = new Uint8Array(f32SweepInput(300_000, 47).buffer);
    const ref = (name: string, data: Uint8Array): TensorRef => ({
      name,
      dtype: "F32",
      shape: [data.byteLength / 4],
      byteLength: data.byteLength,
      origin: "memory",
      // like a file source: each chunk read into a buffer of `alloc`
      async *chunks(chunkSize, alloc) {
        for (let at = 0; at < data.byteLength; at += chunkSize) {
          const n = Math.min(chunkSize, data.byteLength - at);
          const b = alloc ? alloc(n) : new Uint8Array(n);
          b.set(data.subarray(at, at + n));
          yield b;
        }
      },
    });
    const plan = planExport({ tensors: [ref("big", big), ref("small", small)], policy: "BF16" });
    const shard = plan.shards[0];
    assert.ok(shard);
    let resident = 0;
    const alloc = pool.alloc;
    pool.alloc = (n) => {
      const b = alloc(n);
      if (b !== null) resident++;
      return b;
    };
    const path = join(dir, shard.fileName);
    const written = await writeShard({ shard, path, allowOverflow: true, castPool: pool });
    // 4 chunks read, 4 outputs: all in the shared memory, all given back
    assert.equal(resident, 8);
    assert.equal(pool.residentBytes, 0);
    const file = await readFile(path);
    for (const [k, data] of [[0, big], [1, small]] as const) {
      const js = jsCast("F32", "BF16", data);
      const start = shard.headerSize + shard.table.begin(k);
      const got = file.subarray(start, start + js.out.byteLength);
      assert.equal(Buffer.compare(got, Buffer.from(js.out)), 0, `tensor ${k}: bytes`);
      assert.deepEqual(written.cast(k), js.report, `tensor ${k}: report`);
    }
  } finally {
    await pool.close();
    await cleanup();
  }
});

/** xorshift32: the stress test's shapes, dtypes and chunk sizes, the same on every run. */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** Bytes of a tensor of `dtype`: random bit patterns (NaNs, infinities, subnormals, overflows) or a sweep of values. */
function tensorBytes(dtype: FloatDType, elements: number, seed: number, pick: (n: number) => number): Uint8Array {
  if (dtype === "F32" && pick(2) === 0) return new Uint8Array(f32SweepInput(elements, seed).buffer);
  return randomBytes(elements * SIZE[dtype], seed);
}

test("stress: exports of many tensors of every float dtype, random sizes and chunkings, on 4 workers with the shared memory now and then full, write the JS kernels' bytes and reports; no buffer is reused before its last use", async () => {
  const { dir, cleanup } = await tempDir();
  const dtypes: FloatDType[] = ["F16", "BF16", "F32", "F64"];
  // Element counts around the edges: none, one, a SIMD step and its tail, the inline and resident thresholds, chunks.
  const small = [0, 1, 7, 8, 15, 16, 17, 16384 + 3, 32 * 1024];
  const large = [64 * 1024 + 1, 128 * 1024 - 1, 200_000, 300_001];
  try {
    for (const [seed, to] of [[1, "BF16"], [2, "F16"], [3, "F32"], [4, "BF16"]] as const) {
      const pick = rng(seed);
      const pool = new CastPool(4);
      const buffers = new BufferPool();
      // Every buffer given back is overwritten at once: a write or a conversion still using it would put these
      // bytes in the file. The shared memory is "full" for about one request in three (a plain buffer instead).
      const poison = (b: Uint8Array) => b.fill(0xa5);
      const release = pool.release;
      pool.release = (b) => {
        const mine = release(b);
        if (mine) poison(b);
        return mine;
      };
      const releasePlain = buffers.release;
      buffers.release = (b) => {
        releasePlain(b);
        poison(b);
      };
      const alloc = pool.alloc;
      const placed = { resident: 0, refused: 0 };
      pool.alloc = (n) => {
        const b = pick(3) === 0 ? null : alloc(n);
        if (b !== null) placed.resident++;
        else if (n >= MIN_RESIDENT_BYTES) placed.refused++;
        return b;
      };
      try {
        const tensors: { ref: TensorRef; data: Uint8Array }[] = [];
        for (let i = 0; i < 16; i++) {
          const dtype = dtypes[pick(dtypes.length)] as FloatDType;
          const sizes = pick(3) === 0 ? small : large;
          const elements = sizes[pick(sizes.length)] as number;
          const data = tensorBytes(dtype, elements, seed * 100 + i, pick);
          // Each tensor read in chunks of its own size (whole elements; some odd, some under the inline threshold), at
          // most 64 of them.
          const chunk = Math.max([1, 3, 5000, 40_000, 65_536, 131_071, 300_001][pick(7)] as number, Math.ceil(elements / 64)) * SIZE[dtype];
          const ref: TensorRef = {
            name: `t${i}`,
            dtype,
            shape: [elements],
            byteLength: data.byteLength,
            origin: "memory",
            async *chunks(chunkSize, allocate) {
              const step = Math.min(chunkSize, chunk);
              for (let at = 0; at < data.byteLength; at += step) {
                const n = Math.min(step, data.byteLength - at);
                const b = allocate ? allocate(n) : new Uint8Array(n);
                b.set(data.subarray(at, at + n));
                yield b;
              }
            },
          };
          tensors.push({ ref, data });
        }
        const plan = planExport({ tensors: tensors.map((t) => t.ref), policy: to });
        const shard = plan.shards[0];
        assert.ok(shard && plan.shards.length === 1);
        const path = join(dir, `${seed}-${shard.fileName}`);
        const written = await writeShard({ shard, path, allowOverflow: true, castPool: pool, buffers });
        assert.equal(pool.residentBytes, 0, `seed ${seed}: every buffer of the shared memory given back`);
        assert.ok(placed.resident > 0 && placed.refused > 0, `seed ${seed}: chunks in the shared memory and beside it (${JSON.stringify(placed)})`);
        const file = await readFile(path);
        for (let k = 0; k < shard.table.count; k++) {
          const name: string = shard.table.name(k);
          const t: { ref: TensorRef; data: Uint8Array } | undefined = tensors.find((x) => x.ref.name === name);
          assert.ok(t);
          const label = `seed ${seed}, ${name}: ${t.ref.dtype}[${t.ref.shape[0]}] → ${to}`;
          const start = shard.headerSize + shard.table.begin(k);
          const got = file.subarray(start, shard.headerSize + shard.table.end(k));
          if (t.ref.dtype === to) {
            assert.equal(Buffer.compare(got, Buffer.from(t.data)), 0, `${label}: bytes kept`);
            continue;
          }
          const js = jsCast(t.ref.dtype as FloatDType, to, t.data);
          assert.equal(Buffer.compare(got, Buffer.from(js.out)), 0, `${label}: bytes`);
          assert.deepEqual(written.cast(k), js.report, `${label}: report`);
        }
      } finally {
        await pool.close();
      }
    }
  } finally {
    await cleanup();
  }
});
