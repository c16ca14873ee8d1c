import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { TruecastError } from "../../src/errors.js";
import { parseH2oConfig, readH2oConfig } from "../../src/sources/h2o-config.js";
import { fixture } from "../helpers.js";

function rejects(text: string, message: RegExp): void {
  assert.throws(
    () => parseH2oConfig(text, "cfg.yaml"),
    (e: unknown) => e instanceof TruecastError && e.code === "CONFIG_INVALID" && message.test(e.message) && e.message.endsWith("fix the experiment's cfg.yaml"),
  );
}

test("reads the nested sections H2O writes", async () => {
  const cfg = await readH2oConfig(fixture("h2o", "lora", "cfg.yaml"));
  assert.deepEqual(cfg, {
    llmBackbone: "truecast-test/tiny-llama",
    backboneDtype: "bfloat16",
    problemType: "text_causal_language_modeling",
    experimentName: "tiny-run",
    useDeepspeed: false,
    lora: { enabled: true, r: 4, alpha: 16, targetModules: ["q_proj", "v_proj"], useDora: false, useRslora: false, unfreezeLayers: [] },
  });
  const ds = await readH2oConfig(fixture("h2o", "deepspeed", "cfg.yaml"));
  assert.equal(ds.useDeepspeed, true);
  assert.equal(ds.backboneDtype, "float16");
  assert.equal(ds.lora.targetModules, null);
});

test("H2O's defaults for keys left out (backbone_dtype int4, lora on, r 4, alpha 16)", () => {
  const cfg = parseH2oConfig("llm_backbone: org/model\n", "cfg.yaml");
  assert.equal(cfg.backboneDtype, "int4");
  assert.equal(cfg.problemType, "text_causal_language_modeling");
  assert.deepEqual(cfg.lora, { enabled: true, r: 4, alpha: 16, targetModules: null, useDora: false, useRslora: false, unfreezeLayers: [] });
});

test("the fixture's classification cfg has dataset.num_classes", async () => {
  const text = await readFile(fixture("h2o", "classification", "cfg.yaml"), "utf8");
  assert.equal(parseH2oConfig(text, "cfg.yaml").numClasses, 3);
});

test("no llm_backbone", () => rejects("architecture:\n    backbone_dtype: int4\n", /^cfg\.yaml: no llm_backbone;/));
test("not YAML", () => rejects("llm_backbone: [unclosed\n", /^cfg\.yaml: not valid YAML/));
test("not a mapping", () => rejects("- a\n- b\n", /^cfg\.yaml: not a YAML mapping;/));
test("lora_r not a positive integer", () => rejects("llm_backbone: a/b\ntraining:\n    lora_r: 2.5\n", /training\.lora_r is not a positive integer/));
test("lora flag not a boolean", () => rejects("llm_backbone: a/b\ntraining:\n    lora: maybe\n", /training\.lora is not true or false/));
test("target modules not a string", () => rejects("llm_backbone: a/b\ntraining:\n    lora_target_modules: [q_proj]\n", /lora_target_modules is not a comma-separated string/));

test("lora_unfreeze_layers: the list H2O writes, or a comma-separated string", () => {
  const list = parseH2oConfig("llm_backbone: a/b\ntraining:\n    lora_unfreeze_layers:\n    - lm_head\n    - embed_tokens\n", "cfg.yaml");
  assert.deepEqual(list.lora.unfreezeLayers, ["lm_head", "embed_tokens"]);
  assert.deepEqual(parseH2oConfig("llm_backbone: a/b\ntraining:\n    lora_unfreeze_layers: lm_head, norm\n", "cfg.yaml").lora.unfreezeLayers, ["lm_head", "norm"]);
  assert.deepEqual(parseH2oConfig("llm_backbone: a/b\ntraining:\n    lora_unfreeze_layers: []\n", "cfg.yaml").lora.unfreezeLayers, []);
});
test("lora_unfreeze_layers not strings", () => rejects("llm_backbone: a/b\ntraining:\n    lora_unfreeze_layers: [1, 2]\n", /training\.lora_unfreeze_layers is not a list of strings/));
