import { test } from "node:test";
import assert from "node:assert/strict";
import { parsePeftConfig } from "../../../src/sources/peft.js";
import { moduleScaling, patternValue } from "../../../src/transforms/lora/scaling.js";

const cfg = (extra: object) => parsePeftConfig(JSON.stringify({ peft_type: "LORA", r: 8, lora_alpha: 16, ...extra }), "c.json");

test("scaling is alpha / r, or alpha / sqrt(r) with use_rslora", () => {
  assert.deepEqual(moduleScaling(cfg({}), "m.q_proj", "f"), { r: 8, alpha: 16, scaling: 2, scale32: 2 });
  const s = moduleScaling(cfg({ r: 16, lora_alpha: 8, use_rslora: true }), "m.q_proj", "f");
  assert.equal(s.scaling, 8 / Math.sqrt(16));
  const t = moduleScaling(cfg({ r: 6, lora_alpha: 7 }), "m", "f");
  assert.equal(t.scaling, 7 / 6);
  assert.equal(t.scale32, Math.fround(7 / 6));
});

test("patterns match a whole trailing part of the module name, as PEFT's (.*\\.)?(key)$", () => {
  const p = new Map([["q_proj", 4], ["layers\\.0\\.mlp\\.up_proj", 12]]);
  assert.equal(patternValue(p, "model.layers.0.self_attn.q_proj", "f"), 4);
  assert.equal(patternValue(p, "q_proj", "f"), 4);
  assert.equal(patternValue(p, "model.layers.0.self_attn.xq_proj", "f"), undefined);
  assert.equal(patternValue(p, "model.layers.0.mlp.up_proj", "f"), 12);
  assert.equal(patternValue(p, "model.layers.10.mlp.up_proj", "f"), undefined);
});

test("the first matching pattern in file order wins", () => {
  const p = new Map([["proj", 1], ["q_proj", 2], [".*_proj", 3]]);
  assert.equal(patternValue(p, "a.q_proj", "f"), 2);
  assert.equal(patternValue(p, "a.k_proj", "f"), 3);
  assert.equal(patternValue(new Map([[".*_proj", 3], ["q_proj", 2]]), "a.q_proj", "f"), 3);
});

test("rank_pattern and alpha_pattern override per module", () => {
  const c = cfg({ rank_pattern: { q_proj: 4 }, alpha_pattern: { down_proj: 3 } });
  assert.deepEqual(moduleScaling(c, "m.q_proj", "f"), { r: 4, alpha: 16, scaling: 4, scale32: 4 });
  assert.equal(moduleScaling(c, "m.down_proj", "f").scaling, 3 / 8);
});

test("an invalid pattern is an ADAPTER_INVALID error naming it", () => {
  assert.throws(() => patternValue(new Map([["(", 1]]), "m", "c.json"), { code: "ADAPTER_INVALID", message: /pattern "\(" is not a valid/ });
});

// PEFT 0.12 (what the conformance suite merges with) picks ONE key for a module from rank_pattern's keys then
// alpha_pattern's: layers.1.self_attn.v_proj takes r=2 from its rank key and lora_alpha from the same key (the
// default 16), not alpha_pattern's v_proj: 32. PEFT 0.14 and later look each pattern up on its own (alpha 32).
const both = { r: 8, lora_alpha: 16, rank_pattern: { q_proj: 4, "layers.1.self_attn.v_proj": 2 }, alpha_pattern: { v_proj: 32, o_proj: 3 } };

test("peft_version picks the release's rank_pattern/alpha_pattern rule", () => {
  const v = "model.layers.1.self_attn.v_proj";
  assert.deepEqual(moduleScaling(cfg({ ...both, peft_version: "0.12.0" }), v, "f"), { r: 2, alpha: 16, scaling: 8, scale32: 8 });
  assert.deepEqual(moduleScaling(cfg({ ...both, peft_version: "0.14.0" }), v, "f"), { r: 2, alpha: 32, scaling: 16, scale32: 16 });
  assert.deepEqual(moduleScaling(cfg({ ...both, peft_version: "0.18.1.dev0@abc" }), v, "f"), { r: 2, alpha: 32, scaling: 16, scale32: 16 });
  assert.throws(() => moduleScaling(cfg({ ...both, peft_version: "main" }), v, "c.json"), { code: "ADAPTER_INVALID", message: /"peft_version" "main"/ });
});

test("without peft_version a module the releases disagree on is refused by name; the others merge", () => {
  const c = cfg(both);
  assert.throws(() => moduleScaling(c, "model.layers.1.self_attn.v_proj", "c.json", 2), {
    code: "ADAPTER_UNSUPPORTED",
    message: /c\.json: module "model\.layers\.1\.self_attn\.v_proj" has r=2, lora_alpha=16 under PEFT < 0\.14.*r=2, lora_alpha=32 under PEFT 0\.14.*add "peft_version"/,
  });
  assert.deepEqual(moduleScaling(c, "model.layers.0.self_attn.v_proj", "c.json", 8), { r: 8, alpha: 32, scaling: 4, scale32: 4 });
  assert.deepEqual(moduleScaling(c, "model.layers.0.self_attn.q_proj", "c.json", 4), { r: 4, alpha: 16, scaling: 4, scale32: 4 });
  assert.equal(moduleScaling(c, "model.layers.0.self_attn.o_proj", "c.json", 8).alpha, 3);
});

test("the tensors' rank settles between rules that disagree on the rank", () => {
  // "^q_proj" (an anchored key) matches a module named q_proj only from PEFT 0.15 on
  const c = cfg({ rank_pattern: { "^q_proj": 4 } });
  assert.equal(moduleScaling(c, "q_proj", "f", 4).r, 4);
  assert.equal(moduleScaling(c, "q_proj", "f", 8).r, 8);
});
