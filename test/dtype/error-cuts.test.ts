import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { exponentCut } from "../../src/dtype/kernels/error-cuts.js";

/** The definition, by search: the largest e in −1..255 with 2^dMaxLog2 · 2^(e−150) ≤ maxAbs (−1 when none). */
function byDefinition(maxAbs: number, dMaxLog2: number): number {
  let cut = -1;
  for (let e = 0; e <= 255; e++) if (2 ** dMaxLog2 * 2 ** (e - 150) <= maxAbs) cut = e;
  return cut;
}

describe("exponentCut", () => {
  it("matches its definition on finite bounds, at and around powers of two", () => {
    for (const dMaxLog2 of [0, 3, 13]) {
      const bounds = [Number.MIN_VALUE, 2 ** -149, 2 ** -126, 1e-30, 0.1, 1, 3, 65504, 2 ** 100, 2 ** 127, Number.MAX_VALUE];
      for (let k = -160; k <= 140; k += 7) bounds.push(2 ** k, 2 ** k * (1 - 2 ** -52), 2 ** k * (1 + 2 ** -52));
      for (const m of bounds) assert.equal(exponentCut(m, dMaxLog2), byDefinition(m, dMaxLog2), `maxAbs ${m}, dMaxLog2 ${dMaxLog2}`);
    }
  });

  it("is total: +∞ lets every exponent skip, NaN, 0 and negative bounds none", () => {
    // +∞ looped forever before: log2(∞) = ∞ and 2^(∞+1) ≤ ∞ never stops the search.
    for (const dMaxLog2 of [0, 13]) {
      assert.equal(exponentCut(Infinity, dMaxLog2), 255);
      assert.equal(exponentCut(Infinity, dMaxLog2), byDefinition(Infinity, dMaxLog2));
      for (const m of [NaN, 0, -0, -1, -Infinity]) assert.equal(exponentCut(m, dMaxLog2), -1, `maxAbs ${m}`);
    }
  });
});
