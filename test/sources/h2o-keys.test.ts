import { test } from "node:test";
import assert from "node:assert/strict";
import { TruecastError } from "../../src/errors.js";
import { planH2oKeys } from "../../src/sources/h2o-keys.js";

function roles(names: string[]): Record<string, string> {
  const plan = planH2oKeys({ names, file: "checkpoint.pth" });
  return Object.fromEntries([...plan.roles].map(([k, r]) => [k, `${r.role} ${r.name}`]));
}

test("a torch.compile'd backbone (backbone._orig_mod.) is unwrapped", () => {
  const plan = planH2oKeys({ names: ["backbone._orig_mod.model.norm.weight"], file: "checkpoint.pth" });
  assert.equal(plan.compiledUnwrapped, 1);
  assert.deepEqual(roles(["backbone._orig_mod.model.norm.weight"]), { "backbone._orig_mod.model.norm.weight": "weight model.norm.weight" });
});

test("DeepSpeed LoRA keys (no backbone., no base_model.model.) are still recognized", () => {
  assert.deepEqual(roles(["model.layers.0.self_attn.q_proj.base_layer.weight", "model.layers.0.self_attn.q_proj.lora_A.default.weight"]), {
    "model.layers.0.self_attn.q_proj.base_layer.weight": "weight model.layers.0.self_attn.q_proj.weight",
    "model.layers.0.self_attn.q_proj.lora_A.default.weight": "lora base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
  });
});

test("embedding LoRA, DoRA magnitude and lora_B bias get PEFT's saved names", () => {
  const p = "backbone.base_model.model.model.";
  assert.deepEqual(
    roles([`${p}embed_tokens.lora_embedding_A.default`, `${p}layers.0.mlp.up_proj.lora_magnitude_vector.default.weight`, `${p}layers.0.mlp.up_proj.lora_B.default.bias`]),
    {
      [`${p}embed_tokens.lora_embedding_A.default`]: "lora base_model.model.model.embed_tokens.lora_embedding_A",
      [`${p}layers.0.mlp.up_proj.lora_magnitude_vector.default.weight`]: "lora base_model.model.model.layers.0.mlp.up_proj.lora_magnitude_vector",
      [`${p}layers.0.mlp.up_proj.lora_B.default.bias`]: "lora base_model.model.model.layers.0.mlp.up_proj.lora_B.bias",
    },
  );
});

test("bitsandbytes 4-bit companions mark their weight as quantized", () => {
  const w = "backbone.base_model.model.model.layers.0.mlp.up_proj.base_layer.weight";
  const plan = planH2oKeys({ names: [w, `${w}.absmax`, `${w}.quant_map`, `${w}.quant_state.bitsandbytes__nf4`], file: "checkpoint.pth" });
  assert.deepEqual([...plan.quantizedWeights], ["model.layers.0.mlp.up_proj.weight"]);
  assert.deepEqual(
    [...plan.roles.values()].map((r) => r.role),
    ["weight", "quant", "quant", "quant"],
  );
});

test("several adapters are refused, naming them", () => {
  assert.throws(
    () => planH2oKeys({ names: ["m.q_proj.lora_A.default.weight", "m.q_proj.lora_A.other.weight"], file: "checkpoint.pth" }),
    (e: unknown) =>
      e instanceof TruecastError &&
      e.code === "ADAPTER_UNSUPPORTED" &&
      e.message === "checkpoint.pth holds several LoRA adapters (default, other); only one adapter per experiment can be exported",
  );
});

test("two keys that become one name are refused", () => {
  assert.throws(
    () => planH2oKeys({ names: ["backbone.model.norm.weight", "model.norm.weight"], file: "checkpoint.pth" }),
    (e: unknown) =>
      e instanceof TruecastError &&
      e.code === "DUPLICATE_TENSOR" &&
      e.message === "checkpoint.pth: keys backbone.model.norm.weight and model.norm.weight both become model.norm.weight; the checkpoint mixes prefixed and unprefixed keys",
  );
});

test("heads are recognized only at the top level", () => {
  assert.deepEqual(roles(["classification_head.weight", "regression_head.weight", "backbone.score.weight"]), {
    "classification_head.weight": "head classification_head.weight",
    "regression_head.weight": "head regression_head.weight",
    "backbone.score.weight": "weight score.weight",
  });
});
