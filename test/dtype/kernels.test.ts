/**
 * The fast kernels against the one-element reference: for mixed inputs (weight-like values, random bit
 * patterns, specials) and odd chunk sizes, every output element equals the scalar conversion and the
 * report equals the one built element by element with Tally.observe (the report's definition).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createCaster } from "../../src/dtype/cast.js";
import { f32BitsToBf16, f32BitsToF16, f32Value, f16BitsToF32 } from "../../src/dtype/scalar.js";
import { Tally } from "../../src/dtype/tally.js";

/** A deterministic generator (xorshift32). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** float32 bit patterns: long runs of normal(0, σ) values with specials and random patterns mixed in. */
function mixedF32(n: number, seed: number): Uint32Array {
  const next = rng(seed);
  const out = new Uint32Array(n);
  const f = new Float32Array(out.buffer);
  const specials = [0, 0x80000000, 0x7f800000, 0x7fc00000, 0x477ff000, 0x7f7f8000, 0x00000001, 0x33000000, 0x38800000];
  for (let i = 0; i < n; i++) {
    const kind = next() % 100;
    if (kind < 90) {
      const u = (next() + 1) / 4294967297;
      const v = (next() + 1) / 4294967297;
      const sigma = [0.02, 1, 1e-5, 3e4][next() % 4] ?? 1;
      f[i] = sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    } else if (kind < 97) {
      out[i] = next();
    } else {
      out[i] = specials[next() % specials.length] ?? 0;
    }
  }
  return out;
}

function check(to: "F16" | "BF16", bits: Uint32Array, chunk: number): void {
  const caster = createCaster("F32", to);
  const bytes = new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength);
  const outs: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += chunk * 4) outs.push(caster.cast(bytes.subarray(at, at + chunk * 4)));
  const reference = new Tally("F32", to);
  let k = 0;
  for (const out of outs) {
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (let j = 0; j < out.length / 2; j++, k++) {
      const x = bits[k] ?? 0;
      const want = to === "F16" ? f32BitsToF16(x) : f32BitsToBf16(x);
      const got = view.getUint16(j * 2, true);
      if (got !== want) assert.fail(`element ${k}: 0x${x.toString(16)} → 0x${got.toString(16)}, want 0x${want.toString(16)}`);
      reference.observe(f32Value(x), f32Value(to === "F16" ? f16BitsToF32(want) : want << 16));
    }
  }
  reference.elements = bits.length;
  assert.deepEqual(caster.report(), reference.report());
}

test("F32 → BF16 fast kernel agrees with the scalar reference, report included", () => {
  const bits = mixedF32(200_003, 1);
  check("BF16", bits, 4099);
  check("BF16", bits, 1);
});

test("F32 → F16 fast kernel agrees with the scalar reference, report included", () => {
  const bits = mixedF32(200_003, 2);
  check("F16", bits, 4099);
  check("F16", bits.subarray(0, 5000), 3);
});

test("F32 → BF16 of values already in bfloat16 changes nothing", () => {
  const bits = mixedF32(10_000, 3).map((b) => ((b & 0x7fffffff) > 0x7f800000 ? 0x3f800000 : b & 0xffff0000));
  const c = createCaster("F32", "BF16");
  c.cast(new Uint8Array(bits.buffer));
  const r = c.report();
  assert.equal(r.changed, 0);
  assert.equal(r.maxAbsError, 0);
  assert.equal(r.maxRelError, 0);
});
