/**
 * Our casts against PyTorch 1.13's `.to(dtype)`, bit for bit, over the fixtures made by
 * scripts/fixtures/casts.py, and our reports against counts computed here from torch's output.
 *
 * Two deliberate differences from torch:
 * - float64 → float16/bfloat16: torch rounds through float32 (twice); we round once. The fixtures carry
 *   the correctly rounded result (*.exact.bin); where it differs from torch, torch's bytes must equal our
 *   own float64 → float32 → target chain, which proves the difference is torch's double rounding.
 * - NaN: torch narrows NaNs to 0x7e00|sign (float16) and to 0xffff or 0x7fc0 (bfloat16, depending on its
 *   code path), so NaN payloads, and for bfloat16 also NaN signs, differ. There we check NaN-ness, the
 *   sign where torch keeps it, and our own rule (sign + top payload bits + quiet bit) computed here.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fixture } from "../helpers.js";
import { createCaster, type CastReport } from "../../src/dtype/cast.js";
import type { FloatDType } from "../../src/dtype/table.js";

interface Pair {
  from: FloatDType;
  to: FloatDType;
  input: string;
  torch: string;
  exact?: string;
  elements: number;
  torchMismatchesVsExact: number;
}

const manifest = JSON.parse(readFileSync(fixture("casts", "manifest.json"), "utf8")) as { pairs: Pair[] };
const SIZE: Record<FloatDType, number> = { F16: 2, BF16: 2, F32: 4, F64: 8 };
const MANTISSA_BITS: Record<FloatDType, number> = { F16: 10, BF16: 7, F32: 23, F64: 52 };
const EXPONENT_BITS: Record<FloatDType, number> = { F16: 5, BF16: 8, F32: 8, F64: 11 };
const MIN_NORMAL: Record<FloatDType, number> = { F16: 2 ** -14, BF16: 2 ** -126, F32: 2 ** -126, F64: 2 ** -1022 };

function read(name: string): Uint8Array {
  return new Uint8Array(readFileSync(fixture("casts", name)));
}

/** Element i as a bigint bit pattern. */
function bitsAt(bytes: Uint8Array, dtype: FloatDType, i: number): bigint {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = SIZE[dtype];
  if (size === 2) return BigInt(view.getUint16(i * 2, true));
  if (size === 4) return BigInt(view.getUint32(i * 4, true));
  return view.getBigUint64(i * 8, true);
}

/** Decode a bit pattern by the IEEE formula (independent of the code under test). */
function valueOf(bits: bigint, dtype: FloatDType): number {
  const m = MANTISSA_BITS[dtype];
  const e = EXPONENT_BITS[dtype];
  const sign = (bits >> BigInt(m + e)) & 1n ? -1 : 1;
  const exponent = Number((bits >> BigInt(m)) & ((1n << BigInt(e)) - 1n));
  const mantissa = Number(bits & ((1n << BigInt(m)) - 1n));
  const bias = 2 ** (e - 1) - 1;
  if (exponent === 2 ** e - 1) return mantissa === 0 ? sign * Infinity : NaN;
  if (exponent === 0) return sign * mantissa * 2 ** (1 - bias - m);
  return sign * (1 + mantissa / 2 ** m) * 2 ** (exponent - bias);
}

/** Our NaN rule: same sign, the top payload bits that fit, quiet bit set. */
function nanRule(bits: bigint, from: FloatDType, to: FloatDType): bigint {
  const mf = MANTISSA_BITS[from];
  const mt = MANTISSA_BITS[to];
  const sign = (bits >> BigInt(mf + EXPONENT_BITS[from])) & 1n;
  const payload = bits & ((1n << BigInt(mf)) - 1n);
  const kept = mt >= mf ? payload << BigInt(mt - mf) : payload >> BigInt(mf - mt);
  const quiet = 1n << BigInt(mt - 1);
  const exponentAllOnes = ((1n << BigInt(EXPONENT_BITS[to])) - 1n) << BigInt(mt);
  return (sign << BigInt(mt + EXPONENT_BITS[to])) | exponentAllOnes | kept | quiet;
}

function signOf(bits: bigint, dtype: FloatDType): bigint {
  return (bits >> BigInt(MANTISSA_BITS[dtype] + EXPONENT_BITS[dtype])) & 1n;
}

/** Cast in three chunks, the middle one at an odd byte offset, to exercise the unaligned path. */
function castInChunks(from: FloatDType, to: FloatDType, input: Uint8Array): { out: Uint8Array; report: CastReport } {
  const caster = createCaster(from, to);
  const n = input.length / SIZE[from];
  const cuts = [0, Math.floor(n / 3), Math.floor((2 * n) / 3), n].map((k) => k * SIZE[from]);
  const parts: Uint8Array[] = [];
  for (let k = 0; k < 3; k++) {
    const piece = input.subarray(cuts[k], cuts[k + 1]);
    if (k === 1) {
      const shifted = new Uint8Array(piece.length + 1);
      shifted.set(piece, 1);
      parts.push(caster.cast(shifted.subarray(1)));
    } else {
      parts.push(caster.cast(piece));
    }
  }
  const out = new Uint8Array(n * SIZE[to]);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return { out, report: caster.report() };
}

/** The report computed here, from the input values and the expected output values. */
function expectedReport(from: FloatDType, to: FloatDType, input: Uint8Array, expected: Uint8Array): CastReport {
  const r: CastReport = {
    from, to, elements: 0, changed: 0, toInfinity: 0, toZero: 0, toSubnormal: 0, nan: 0, maxAbsError: 0, maxRelError: 0,
  };
  const n = input.length / SIZE[from];
  for (let i = 0; i < n; i++) {
    const x = valueOf(bitsAt(input, from, i), from);
    const y = valueOf(bitsAt(expected, to, i), to);
    r.elements += 1;
    if (Number.isNaN(x)) {
      r.nan += 1;
      continue;
    }
    if (x !== y) r.changed += 1;
    if (Number.isFinite(x) && !Number.isFinite(y)) r.toInfinity += 1;
    if (x !== 0 && y === 0) r.toZero += 1;
    if (Math.abs(x) >= MIN_NORMAL[from] && y !== 0 && Math.abs(y) < MIN_NORMAL[to]) r.toSubnormal += 1;
    if (Number.isFinite(x) && Number.isFinite(y)) {
      const err = Math.abs(x - y);
      r.maxAbsError = Math.max(r.maxAbsError, err);
      if (x !== 0) r.maxRelError = Math.max(r.maxRelError, err / Math.abs(x));
    }
  }
  // A finite value that became ±inf is an infinite error.
  if (r.toInfinity > 0) return { ...r, maxAbsError: Infinity, maxRelError: Infinity };
  return r;
}

test("the fixtures cover all 12 ordered pairs", () => {
  assert.equal(manifest.pairs.length, 12);
});

for (const pair of manifest.pairs) {
  test(`${pair.from} → ${pair.to} matches PyTorch bit for bit (${pair.elements} elements)`, () => {
    const input = read(pair.input);
    const torchOut = read(pair.torch);
    const expected = pair.exact === undefined ? torchOut : read(pair.exact);
    const { out, report } = castInChunks(pair.from, pair.to, input);
    assert.equal(out.length, torchOut.length);

    let nanSeen = 0;
    for (let i = 0; i < pair.elements; i++) {
      const inBits = bitsAt(input, pair.from, i);
      const ours = bitsAt(out, pair.to, i);
      const theirs = bitsAt(torchOut, pair.to, i);
      if (Number.isNaN(valueOf(inBits, pair.from))) {
        nanSeen += 1;
        assert.ok(Number.isNaN(valueOf(ours, pair.to)), `element ${i}: NaN must stay NaN`);
        assert.ok(Number.isNaN(valueOf(theirs, pair.to)));
        assert.equal(ours, nanRule(inBits, pair.from, pair.to), `element ${i}: NaN rule`);
        if (pair.to !== "BF16") assert.equal(signOf(ours, pair.to), signOf(theirs, pair.to), `element ${i}: NaN sign`);
        continue;
      }
      assert.equal(ours, bitsAt(expected, pair.to, i), `element ${i} (input 0x${inBits.toString(16)})`);
    }
    assert.ok(nanSeen > 0, "the fixture has NaNs");
    assert.deepEqual(report, expectedReport(pair.from, pair.to, input, expected));
  });
}

for (const pair of manifest.pairs.filter((p) => p.exact !== undefined)) {
  test(`${pair.from} → ${pair.to}: where torch differs, it is torch's rounding through float32`, () => {
    const input = read(pair.input);
    const torchOut = read(pair.torch);
    const exact = read(pair.exact ?? "");
    const viaF32 = createCaster("F32", pair.to).cast(createCaster(pair.from, "F32").cast(input));
    let differ = 0;
    for (let i = 0; i < pair.elements; i++) {
      if (Number.isNaN(valueOf(bitsAt(input, pair.from, i), pair.from))) continue;
      const t = bitsAt(torchOut, pair.to, i);
      if (t === bitsAt(exact, pair.to, i)) continue;
      differ += 1;
      assert.equal(t, bitsAt(viaF32, pair.to, i), `element ${i}`);
    }
    assert.equal(differ, pair.torchMismatchesVsExact);
    assert.ok(differ > 0, "the fixture holds double-rounding cases");
  });
}
