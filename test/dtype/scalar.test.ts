/** The one-element conversions, exhaustively over the 16-bit dtypes, and the host-order helpers. */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  bf16BitsToF16, bf16BitsToF32, f16BitsToBf16, f16BitsToF32, f32BitsToBf16, f32BitsToF16, f32Value,
  f64ToF32BitsRoundToOdd,
} from "../../src/dtype/scalar.js";
import { HOST_LITTLE_ENDIAN, hostOrderInput, swapBytes } from "../../src/dtype/host-order.js";

/** float16 value by the IEEE formula. */
function f16Formula(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m === 0 ? sign * Infinity : NaN;
  return e === 0 ? sign * m * 2 ** -24 : sign * (1 + m / 1024) * 2 ** (e - 15);
}

test("float16 → float32 decodes all 65,536 patterns exactly, and float32 → float16 gives them back", () => {
  for (let h = 0; h < 0x10000; h++) {
    const bits = f16BitsToF32(h);
    const want = f16Formula(h);
    if (Number.isNaN(want)) {
      assert.ok(Number.isNaN(f32Value(bits)), `0x${h.toString(16)}`);
      continue;
    }
    assert.ok(Object.is(f32Value(bits), want), `0x${h.toString(16)}`);
    assert.equal(f32BitsToF16(bits), h);
  }
});

test("bfloat16 ↔ float32 round-trips all non-NaN patterns", () => {
  for (let h = 0; h < 0x10000; h++) {
    if ((h & 0x7fff) > 0x7f80) continue;
    assert.equal(bf16BitsToF32(h), (h << 16) >>> 0);
    assert.equal(f32BitsToBf16(bf16BitsToF32(h)), h);
  }
});

test("float16 ↔ bfloat16 agree with going through float32 by hand", () => {
  for (let h = 0; h < 0x10000; h++) {
    assert.equal(f16BitsToBf16(h), f32BitsToBf16(f16BitsToF32(h)));
    assert.equal(bf16BitsToF16(h), f32BitsToF16(bf16BitsToF32(h)));
  }
});

test("round-to-odd float32 truncates and marks inexact results", () => {
  assert.equal(f64ToF32BitsRoundToOdd(1), 0x3f800000);
  assert.equal(f64ToF32BitsRoundToOdd(1 + 2 ** -30), 0x3f800001); // inexact: last bit set
  assert.equal(f64ToF32BitsRoundToOdd(1 + 2 ** -23 - 2 ** -30), 0x3f800001); // nearest is up; truncate, mark
  assert.equal(f64ToF32BitsRoundToOdd(-(1 + 2 ** -30)), 0xbf800001);
  assert.equal(f64ToF32BitsRoundToOdd(1e300), 0x7f7fffff); // beyond float32: the largest odd finite
  assert.equal(f64ToF32BitsRoundToOdd(1e-300), 0x00000001); // below float32: the smallest subnormal
  assert.equal(f64ToF32BitsRoundToOdd(-Infinity), 0xff800000);
});

test("swapBytes reverses each element", () => {
  const b = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  swapBytes(b, 4);
  assert.deepEqual([...b], [4, 3, 2, 1, 8, 7, 6, 5]);
  swapBytes(b, 8);
  assert.deepEqual([...b], [5, 6, 7, 8, 1, 2, 3, 4]);
});

test("hostOrderInput views aligned input and copies misaligned input", () => {
  assert.ok(HOST_LITTLE_ENDIAN, "these machines are little-endian");
  const buffer = new Uint8Array(12);
  const aligned = buffer.subarray(4, 12);
  assert.equal(hostOrderInput(aligned, 4), aligned);
  const odd = buffer.subarray(1, 9);
  const copy = hostOrderInput(odd, 4);
  assert.notEqual(copy.buffer, buffer.buffer);
  assert.equal(copy.byteOffset, 0);
  assert.deepEqual([...copy], [...odd]);
});
