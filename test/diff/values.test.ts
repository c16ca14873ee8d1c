/** The per-element comparison: ulps, NaN and infinity changes, the round-to-nearest-even check. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { UlpScale } from "../../src/diff/ulp.js";
import { ValueDiff } from "../../src/diff/value-diff.js";
import { f32, u16 } from "../support/build-model.js";

test("ulp distances: whole steps on the grid, fractions between grid points, across zero and binades, infinities", () => {
  const f16 = new UlpScale("F16");
  assert.equal(f16.distance(1, 1 + 2 ** -10), 1);
  assert.equal(f16.distance(1 + 2 ** -10, 1), 1);
  assert.equal(f16.distance(2 - 2 ** -10, 2), 1); // the largest float16 below 2
  assert.equal(f16.distance(2 - 2 ** -11, 2), 0.5); // half a step of the binade below
  assert.equal(f16.distance(2 - 2 ** -11, 2 + 2 ** -9), 1.5); // across binades: 0.5 below 2, 1 above
  assert.equal(f16.distance(-(2 ** -24), 2 ** -24), 2); // subnormals, through zero
  assert.equal(f16.distance(0, -0), 0);
  assert.equal(f16.distance(65504, Infinity), Infinity);
  assert.equal(f16.distance(Infinity, Infinity), 0);
  assert.equal(f16.distance(65504, 70000), 1 + (70000 - 65536) / 64); // past the largest value the grid goes on
  const bf16 = new UlpScale("BF16");
  assert.equal(bf16.distance(1, 1 + 2 ** -8), 0.5); // a float32 value halfway between two bfloat16 values
  assert.equal(bf16.distance(1, 1 + 2 ** -9), 0.25);
  // float64 distances are exact even where the grid position exceeds 2^53.
  assert.equal(new UlpScale("F64").distance(1, 1 + 2 ** -52), 1);
  assert.equal(new UlpScale("F64").distance(1e300, 1e300 * (1 + 2 ** -52)), 1);
  assert.equal(new UlpScale("F32").distance(1, 1 + 2 ** -23), 1);
});

test("same dtype: NaNs that appear or vanish, infinities that change, -0 against +0, values that become 0", () => {
  const d = new ValueDiff("F32", "F32");
  d.compare(f32([NaN, 1, 2, Infinity, -0, 3, 1e-3, 5]), f32([1, NaN, 2, 7, 0, 0, 1e-3 * (1 + 2 ** -20), Infinity]), 8);
  const r = d.report();
  assert.equal(r.elements, 8);
  assert.equal(r.nanVanished, 1);
  assert.equal(r.nanAppeared, 1);
  assert.equal(r.infChanged, 1);
  assert.equal(r.toZero, 1);
  assert.equal(r.toInfinity, 1);
  assert.equal(r.changed, 6); // NaN gone, NaN new, inf → 7, 3 → 0, 1e-3 moved, 5 → inf; not -0 → +0
  assert.equal(r.maxAbsError, Infinity);
  assert.equal(r.maxUlp, Infinity);
  assert.equal(r.cast, null);
  assert.equal(r.ulpDtype, "F32");
  const moved = new ValueDiff("F32", "F32");
  moved.compare(f32([1, 2]), f32([1 + 2 ** -23 * 3, 2]), 2);
  moved.same(10);
  assert.deepEqual({ ...moved.report(), maxAbsError: moved.report().maxAbsError }, {
    elements: 12, changed: 1, toInfinity: 0, toZero: 0, toSubnormal: 0, nanAppeared: 0, nanVanished: 0, infChanged: 0, clamped: 0,
    maxAbsError: 3 * 2 ** -23, maxRelError: 3 * 2 ** -23, maxUlp: 3, ulpDtype: "F32", cast: null,
  });
});

test("a cast: the narrower side checked against truecast's round-to-nearest-even, NaN payloads aside", () => {
  // bfloat16 0x477f = 65280 fits float16 (0x7bf8); 0x4780 = 65536 does not: RNE gives inf, a clamping exporter 65504.
  const rne = new ValueDiff("BF16", "F16");
  rne.compare(u16([0x477f, 0x4780, 0x3f80, 0x7fc1]), u16([0x7bf8, 0x7c00, 0x3c00, 0x7e00]), 4);
  const r = rne.report();
  assert.deepEqual(r.cast, { from: "a", notNearestEven: 0 });
  assert.equal(r.toInfinity, 1);
  assert.equal(r.changed, 1);
  const clamped = new ValueDiff("BF16", "F16");
  clamped.compare(u16([0x477f, 0x4780, 0x3f80]), u16([0x7bf8, 0x7bff, 0x3c00]), 3);
  const c = clamped.report();
  assert.deepEqual(c.cast, { from: "a", notNearestEven: 1 });
  assert.equal(c.clamped, 1);
  assert.equal(c.toInfinity, 0);
  assert.equal(c.maxAbsError, 65536 - 65504);
  assert.equal(c.ulpDtype, "F16");
  // b wider: a is checked as the rounding of b.
  const wide = new ValueDiff("BF16", "F32");
  wide.compare(u16([0x3f80, 0x3f81]), f32([1 + 2 ** -9, 1 + 2 ** -7 + 2 ** -9]), 2);
  assert.deepEqual(wide.report().cast, { from: "b", notNearestEven: 0 });
  const off = new ValueDiff("BF16", "F32");
  off.compare(u16([0x3f80]), f32([1 + 2 ** -8 + 2 ** -12]), 1); // RNE of b is 0x3f81, not 0x3f80
  assert.deepEqual(off.report().cast, { from: "b", notNearestEven: 1 });
});

test("the verdict names a float16 copy whose overflows were clamped to ±65504", async () => {
  const { verdictOf } = await import("../../src/diff/verdict.js");
  const clamped = new ValueDiff("BF16", "F16");
  clamped.compare(u16([0x4780, 0xc780, 0x3f80]), u16([0x7bff, 0xfbff, 0x3c00]), 3);
  const tensor = { name: "w", dtypeA: "BF16", dtypeB: "F16", shape: [3], elements: 3, bitIdentical: false, compared: "values", values: clamped.report(), elementsChanged: null } as const;
  const other = { ...tensor, name: "n", values: { ...tensor.values, changed: 0, clamped: 0, cast: { from: "a", notNearestEven: 0 } } } as const;
  assert.deepEqual(verdictOf({ tensors: [tensor, other], onlyInA: [], onlyInB: [], shapeMismatches: [], renamed: false }), {
    code: "CAST_CHANGED",
    severity: "warning",
    text: "b = a rounded to float16 with 2 values clamped to ±65504 instead of overflowing (values changed), in 1 of 2 tensors",
  });
});
