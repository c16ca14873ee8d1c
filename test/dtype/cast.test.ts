/** The special cases of each conversion, one test each, and the Caster/Encoder API. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createCaster, createEncoder, decodeToFloat32, summarize, type CastReport } from "../../src/dtype/cast.js";
import { TruecastError } from "../../src/errors.js";
import type { FloatDType } from "../../src/dtype/table.js";

/** Little-endian bytes of bit patterns of the given element size. */
function bytesOf(size: 2 | 4, bits: number[]): Uint8Array {
  const out = new Uint8Array(bits.length * size);
  const view = new DataView(out.buffer);
  bits.forEach((b, i) => (size === 2 ? view.setUint16(i * 2, b, true) : view.setUint32(i * 4, b >>> 0, true)));
  return out;
}
function f32Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  values.forEach((v, i) => new DataView(out.buffer).setFloat32(i * 4, v, true));
  return out;
}
function f64Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  values.forEach((v, i) => new DataView(out.buffer).setFloat64(i * 8, v, true));
  return out;
}
function u16s(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.length / 2 }, (_, i) => view.getUint16(i * 2, true));
}
function u32s(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.length / 4 }, (_, i) => view.getUint32(i * 4, true));
}
function f64s(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.length / 8 }, (_, i) => view.getFloat64(i * 8, true));
}
function cast(from: FloatDType, to: FloatDType, bytes: Uint8Array): { out: Uint8Array; report: CastReport } {
  const c = createCaster(from, to);
  const out = c.cast(bytes);
  return { out, report: c.report() };
}
/** f32 bits → 16-bit target bits, one element at a time through the public API. */
function narrow(to: "F16" | "BF16", f32bits: number[]): number[] {
  return u16s(cast("F32", to, bytesOf(4, f32bits)).out);
}

test("F32 → BF16 rounds ties to even", () => {
  // 1 + 2^-8 is halfway between 0x3f80 and 0x3f81: even 0x3f80; 1 + 3·2^-8: halfway, even 0x3f82.
  assert.deepEqual(narrow("BF16", [0x3f808000, 0x3f818000, 0x3f808001, 0xbf808000, 0x3f80ffff]), [0x3f80, 0x3f82, 0x3f81, 0xbf80, 0x3f81]);
});

test("F32 → F16 rounds ties to even, also among subnormals", () => {
  // 1 + 2^-11 → 1.0; 1 + 3·2^-11 → 1 + 2^-9; 1.5·2^-24 → 2·2^-24; 2.5·2^-24 → 2·2^-24.
  assert.deepEqual(
    narrow("F16", [0x3f801000, 0x3f803000, 0x33c00000, 0x34200000]),
    [0x3c00, 0x3c02, 0x0002, 0x0002],
  );
});

test("-0 stays -0 in every direction and is not a change", () => {
  assert.deepEqual(narrow("F16", [0x80000000]), [0x8000]);
  assert.deepEqual(narrow("BF16", [0x80000000]), [0x8000]);
  assert.ok(Object.is(f64s(cast("F32", "F64", f32Bytes([-0])).out)[0], -0));
  assert.deepEqual(u32s(cast("F64", "F32", f64Bytes([-0])).out), [0x80000000]);
  assert.deepEqual(u16s(cast("F64", "F16", f64Bytes([-0])).out), [0x8000]);
  assert.deepEqual(u16s(cast("BF16", "F16", bytesOf(2, [0x8000])).out), [0x8000]);
  assert.equal(cast("F32", "F16", bytesOf(4, [0x80000000])).report.changed, 0);
});

test("subnormal results are exact, not flushed to zero, and counted", () => {
  // 2^-24 is the smallest float16 subnormal; 2^-25 is half of it (a tie: to even, zero).
  const r = cast("F32", "F16", f32Bytes([2 ** -24, 2 ** -25, 2 ** -25 * 1.0000001, 3 * 2 ** -24, 2 ** -14 - 2 ** -24]));
  assert.deepEqual(u16s(r.out), [0x0001, 0x0000, 0x0001, 0x0003, 0x03ff]);
  assert.equal(r.report.toSubnormal, 4);
  assert.equal(r.report.toZero, 1);
  // bfloat16 keeps float32's subnormals: 2^-133 is its smallest.
  assert.deepEqual(narrow("BF16", [0x00010000, 0x00008000, 0x00018000]), [0x0001, 0x0000, 0x0002]);
  // float64 2^-130 is exactly a float32 subnormal: unchanged, but it became subnormal.
  const d = cast("F64", "F32", f64Bytes([2 ** -130]));
  assert.deepEqual(u32s(d.out), [0x00080000]);
  assert.equal(d.report.changed, 0);
  assert.equal(d.report.toSubnormal, 1);
  // and they widen back exactly
  assert.deepEqual(u32s(cast("F16", "F32", bytesOf(2, [0x0001, 0x83ff])).out), [0x33800000, 0xb87fc000]);
});

test("overflow to ±inf happens exactly at the round-to-nearest-even threshold", () => {
  assert.deepEqual(narrow("F16", [0x477ff000, 0x477fefff, 0xc77ff000, 0x47800000]), [0x7c00, 0x7bff, 0xfc00, 0x7c00]);
  const r = cast("F32", "F16", f32Bytes([65520, 65519.99, 65504]));
  assert.deepEqual(u16s(r.out), [0x7c00, 0x7bff, 0x7bff]);
  assert.equal(r.report.toInfinity, 1);
  assert.deepEqual(narrow("BF16", [0x7f7f8000, 0x7f7f7fff, 0x7f7fffff, 0xff7f8000]), [0x7f80, 0x7f7f, 0x7f80, 0xff80]);
  // float64 → float32: FLT_MAX plus half an ulp is a tie that rounds to infinity; just below does not.
  const half = 2 ** 103;
  const fltMax = (2 - 2 ** -23) * 2 ** 127;
  assert.deepEqual(u32s(cast("F64", "F32", f64Bytes([fltMax + half, fltMax + half - 2 ** 76])).out), [0x7f800000, 0x7f7fffff]);
});

test("F64 → F16 and F64 → BF16 round once (no double rounding through F32)", () => {
  // 1 + 2^-11 + 2^-40 is just above a float16 tie; float32 would round it onto the tie, then to even 1.0.
  assert.deepEqual(u16s(cast("F64", "F16", f64Bytes([1 + 2 ** -11 + 2 ** -40])).out), [0x3c01]);
  assert.deepEqual(u16s(cast("F32", "F16", cast("F64", "F32", f64Bytes([1 + 2 ** -11 + 2 ** -40])).out).out), [0x3c00]);
  assert.deepEqual(u16s(cast("F64", "BF16", f64Bytes([1 + 2 ** -8 + 2 ** -40])).out), [0x3f81]);
  // Just below 65520 is 65504 in float16, though float32 rounds it up to 65520, which overflows.
  const r = cast("F64", "F16", f64Bytes([65519.999999999]));
  assert.deepEqual(u16s(r.out), [0x7bff]);
  assert.equal(r.report.toInfinity, 0);
});

test("NaN stays a NaN with its sign and top payload bits, made quiet", () => {
  assert.deepEqual(narrow("BF16", [0x7fa5a5a5, 0xffc00000, 0x7f800001]), [0x7fe5, 0xffc0, 0x7fc0]);
  assert.deepEqual(narrow("F16", [0x7fa5a5a5, 0xffc00000, 0x7f802000]), [0x7f2d, 0xfe00, 0x7e01]);
  assert.deepEqual(u32s(cast("F16", "F32", bytesOf(2, [0x7c01, 0xfd55])).out), [0x7fc02000, 0xffeaa000]);
  assert.deepEqual(u32s(cast("BF16", "F32", bytesOf(2, [0xff81])).out), [0xffc10000]);
  assert.deepEqual(u16s(cast("BF16", "F16", bytesOf(2, [0xff81, 0x7fff])).out), [0xfe08, 0x7ff8]);
  const r = cast("F32", "BF16", bytesOf(4, [0x7fa5a5a5, 0x3f800000]));
  assert.equal(r.report.nan, 1);
  assert.equal(r.report.changed, 0);
});

test("the report counts every field as documented", () => {
  const r = cast("F32", "F16", f32Bytes([1, 65520, 1e-8, NaN, 0, -0, 1e-5, 0.1, Infinity]));
  const x = Math.fround(0.1);
  const y = 0.0999755859375; // float16 nearest to it
  assert.deepEqual(r.report, {
    from: "F32", to: "F16", elements: 9,
    changed: 4, // 65520 (→ inf), 1e-8 (→ 0), 1e-5 (→ subnormal), 0.1
    toInfinity: 1, toZero: 1, toSubnormal: 1, nan: 1,
    maxAbsError: Infinity, // 65520 became inf: an infinite error, not only a count
    maxRelError: Infinity,
  });
  // Without the overflow, the largest finite error is that of 0.1.
  const finite = cast("F32", "F16", f32Bytes([1, 1e-8, NaN, 0, -0, 1e-5, 0.1, Infinity]));
  assert.equal(finite.report.toInfinity, 0);
  assert.equal(finite.report.maxAbsError, Math.max(Math.abs(x - y), Math.fround(1e-8), Math.abs(Math.fround(1e-5) - 168 * 2 ** -24)));
  assert.equal(finite.report.maxAbsError, Math.abs(x - y));
  assert.equal(finite.report.maxRelError, 1); // 1e-8 became 0
});

test("chunks at any byte offset give the same bytes, and the report accumulates", () => {
  const values = Array.from({ length: 37 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4));
  const whole = cast("F32", "BF16", f32Bytes(values));
  const c = createCaster("F32", "BF16");
  const shifted = new Uint8Array(values.length * 4 + 3);
  shifted.set(f32Bytes(values), 3);
  const a = c.cast(shifted.subarray(3, 3 + 13 * 4));
  const b = c.cast(shifted.subarray(3 + 13 * 4));
  assert.deepEqual([...a, ...b], [...whole.out]);
  assert.deepEqual(c.report(), whole.report);
});

test("cast returns fresh bytes and leaves its input untouched", () => {
  const input = bytesOf(2, [0x3c00, 0x7c01]);
  const copy = input.slice();
  const c = createCaster("F16", "F16");
  const out = c.cast(input);
  assert.notEqual(out.buffer, input.buffer);
  assert.deepEqual(out, copy);
  assert.deepEqual(input, copy);
  assert.deepEqual(c.report(), {
    from: "F16", to: "F16", elements: 2, changed: 0, toInfinity: 0, toZero: 0, toSubnormal: 0, nan: 1,
    maxAbsError: 0, maxRelError: 0,
  });
});

test("the table kernels (BF16 ↔ F16) report correctly when asked more than once", () => {
  const c = createCaster("BF16", "F16");
  c.cast(bytesOf(2, [0x3f80, 0x7f7f]));
  assert.equal(c.report().toInfinity, 1);
  c.cast(bytesOf(2, [0x7f7f, 0x0001]));
  const r = c.report();
  assert.equal(r.elements, 4);
  assert.equal(r.toInfinity, 2);
  assert.equal(r.toZero, 1);
  assert.equal(r.changed, 3);
});

test("a chunk that is not a whole number of elements is refused", () => {
  const c = createCaster("F32", "F16");
  assert.throws(() => c.cast(new Uint8Array(6)), (e: unknown) => {
    assert.ok(e instanceof TruecastError);
    assert.equal(e.code, "INTERNAL");
    assert.match(e.message, /6 bytes is not a whole number of 4-byte elements/);
    return true;
  });
});

test("a dtype other than F16, BF16, F32, F64 is refused", () => {
  assert.throws(() => createCaster("I8" as FloatDType, "F16"), (e: unknown) => {
    assert.ok(e instanceof TruecastError);
    assert.equal(e.code, "UNSUPPORTED_DTYPE");
    assert.match(e.message, /"I8"/);
    return true;
  });
});

test("decodeToFloat32 decodes F16, BF16 and F32 exactly, at any offset", () => {
  assert.deepEqual([...decodeToFloat32("F16", bytesOf(2, [0x3c00, 0x0001, 0xfbff]))], [1, 2 ** -24, -65504]);
  assert.deepEqual([...decodeToFloat32("BF16", bytesOf(2, [0x3f80, 0xc2f7, 0x0001]))], [1, -123.5, 2 ** -133]);
  const shifted = new Uint8Array(9);
  shifted.set(f32Bytes([0.1, -3]), 1);
  assert.deepEqual([...decodeToFloat32("F32", shifted.subarray(1))], [Math.fround(0.1), -3]);
  assert.ok(Number.isNaN(decodeToFloat32("F16", bytesOf(2, [0x7e00]))[0]));
});

test("createEncoder rounds float32 values once into the target, with the report", () => {
  const e = createEncoder("BF16");
  const values = new Float32Array([1, 1 + 2 ** -8, 3.398e38, -0]);
  assert.deepEqual(u16s(e.encode(values)), [0x3f80, 0x3f80, 0x7f80, 0x8000]);
  const r = e.report();
  assert.equal(r.from, "F32");
  assert.equal(r.elements, 4);
  assert.equal(r.changed, 2);
  assert.equal(r.toInfinity, 1);
  assert.equal(r.maxAbsError, Infinity, "3.398e38 became inf");
  const finite = createEncoder("BF16");
  finite.encode(new Float32Array([1, 1 + 2 ** -8, -0]));
  assert.equal(finite.report().maxAbsError, 2 ** -8);
  assert.deepEqual(u32s(createEncoder("F32").encode(values.subarray(1, 2))), [0x3f808000]);
});

test("summarize adds counts, keeps the largest errors and lists the pairs", () => {
  const a = cast("F32", "F16", f32Bytes([65520, 0.1])).report;
  const b = cast("F32", "BF16", f32Bytes([1e-30, NaN])).report;
  const s = summarize([a, b, a]);
  assert.equal(s.tensors, 3);
  assert.deepEqual(s.pairs, [{ from: "F32", to: "F16" }, { from: "F32", to: "BF16" }]);
  assert.equal(s.elements, 6);
  assert.equal(s.toInfinity, 2);
  assert.equal(s.nan, 1);
  assert.equal(s.maxAbsError, Math.max(a.maxAbsError, b.maxAbsError));
  assert.equal(s.maxRelError, Math.max(a.maxRelError, b.maxRelError));
  assert.deepEqual(summarize([]), {
    tensors: 0, pairs: [], elements: 0, changed: 0, toInfinity: 0, toZero: 0, toSubnormal: 0, nan: 0,
    maxAbsError: 0, maxRelError: 0,
  });
});

test("castInto writes the same bytes and report as cast, into the buffer given", () => {
  const input = new Uint8Array(new Float32Array([1, 1.00390625, 70000, -0, 3.4e38, Number.NaN, 1e-40, 0.1]).buffer);
  const a = createCaster("F32", "BF16");
  const b = createCaster("F32", "BF16");
  const out = new Uint8Array(16).fill(0xaa);
  const got = b.castInto(input, out);
  assert.equal(got, out);
  assert.deepEqual([...out], [...a.cast(input)]);
  assert.deepEqual(b.report(), a.report());
  assert.throws(() => createCaster("F32", "BF16").castInto(input, new Uint8Array(15)), { code: "INTERNAL" });
});
