import assert from "node:assert/strict";
import { test } from "node:test";
import { groupOf, layerOf } from "../../src/report/page-data.js";

test("tensor names map to their block and kind of weight", () => {
  const cases: [string, number | null, string][] = [
    ["model.layers.12.self_attn.q_proj.weight", 12, "q"],
    ["model.layers.0.self_attn.k_proj.weight", 0, "k"],
    ["model.layers.3.self_attn.v_proj.weight", 3, "v"],
    ["model.layers.3.self_attn.o_proj.weight", 3, "o"],
    ["model.layers.7.mlp.down_proj.weight", 7, "mlp"],
    ["transformer.h.5.attn.c_attn.weight", 5, "qkv"],
    ["transformer.h.5.mlp.c_fc.weight", 5, "mlp"],
    ["gpt_neox.layers.2.attention.query_key_value.weight", 2, "qkv"],
    ["model.embed_tokens.weight", null, "embeddings"],
    ["lm_head.weight", null, "head"],
    ["model.norm.weight", null, "norm"],
    ["model.layers.1.input_layernorm.weight", 1, "norm"],
    ["transformer.ln_f.bias", null, "norm"],
    ["rotary.inv_freq", null, "other"],
  ];
  for (const [name, layer, group] of cases) {
    assert.equal(layerOf(name), layer, name);
    assert.equal(groupOf(name), group, name);
  }
});
