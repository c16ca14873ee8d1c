/** Pairing tensor names: exact names first, wrapper prefixes removed only where that pairs them. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { alignTensors, stripKnownPrefixes } from "../../src/diff/align.js";
import type { TensorRef } from "../../src/sources/tensor-ref.js";

function ref(name: string): TensorRef {
  return { name, dtype: "F32", shape: [1], byteLength: 4, origin: "test", chunks: async function* () {} };
}

const names = (pairs: readonly { a: TensorRef; b: TensorRef }[]) => pairs.map((p) => [p.a.name, p.b.name]);

test("known prefixes are removed, nested ones too; a name that is only a prefix is left alone", () => {
  assert.deepEqual(stripKnownPrefixes("backbone.base_model.model.model.embed_tokens.weight"), { key: "model.embed_tokens.weight", removed: ["backbone.", "base_model.model."] });
  assert.deepEqual(stripKnownPrefixes("module._orig_mod.lm_head.weight"), { key: "lm_head.weight", removed: ["module.", "_orig_mod."] });
  assert.deepEqual(stripKnownPrefixes("model.norm.weight"), { key: "model.norm.weight", removed: [] });
});

test("equal names pair as they are; prefixed names pair with their unprefixed partner and are counted", () => {
  const a = [ref("backbone.model.norm.weight"), ref("backbone.lm_head.weight"), ref("extra")];
  const b = [ref("lm_head.weight"), ref("model.norm.weight"), ref("extra"), ref("only.b")];
  const r = alignTensors(a, b);
  assert.deepEqual(names(r.pairs), [["backbone.model.norm.weight", "model.norm.weight"], ["backbone.lm_head.weight", "lm_head.weight"], ["extra", "extra"]]);
  assert.deepEqual(r.onlyInA, []);
  assert.deepEqual(r.onlyInB, ["only.b"]);
  assert.deepEqual([...r.strippedA], [["backbone.", 2]]);
  assert.deepEqual([...r.strippedB], []);
});

test("an exact match wins over a prefixed one, and a stripped name two tensors share pairs with neither", () => {
  const r = alignTensors([ref("w"), ref("module.w"), ref("module.x"), ref("_orig_mod.x")], [ref("w"), ref("x")]);
  assert.deepEqual(names(r.pairs), [["w", "w"]]);
  assert.deepEqual(r.onlyInA, ["module.w", "module.x", "_orig_mod.x"]);
  assert.deepEqual(r.onlyInB, ["x"]);
  assert.equal(r.strippedA.size, 0);
});
