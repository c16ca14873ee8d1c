import { test } from "node:test";
import assert from "node:assert/strict";
import { openH2oExperiment } from "../../src/sources/h2o.js";
import { fixture } from "../helpers.js";

// A GPT-2 H2O LoRA run (real PEFT, scripts/fixtures/h2o_peft.py): checkpoint.pth holds lm_head.weight and
// transformer.wte.weight sharing one storage, and the base model's config.json leaves tie_word_embeddings out
// (transformers writes only values that differ from the default, true). transformers' save_pretrained writes no
// lm_head.weight for such a model; neither may the export.
test("an H2O run on a model whose config.json omits tie_word_embeddings leaves the tied lm_head out", async () => {
  const exp = await openH2oExperiment({ dir: fixture("h2o-peft", "gpt2-lora"), baseDir: fixture("h2o-peft", "gpt2-base"), env: { HF_HUB_OFFLINE: "1" } });
  try {
    const names = exp.tensors.map((t) => t.name);
    assert.ok(names.includes("transformer.wte.weight"));
    assert.ok(!names.includes("lm_head.weight"), "lm_head.weight is tied to transformer.wte.weight and must be left out");
    assert.ok(exp.notes.some((n) => /lm_head\.weight left out: it shares its storage with \S*transformer\.wte\.weight/.test(n)), exp.notes.join("\n"));
  } finally {
    await exp.close();
  }
});
