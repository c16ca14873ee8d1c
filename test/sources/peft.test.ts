import { test } from "node:test";
import assert from "node:assert/strict";
import { fixture } from "../helpers.js";
import { groupAdapterTensors, makeLoraConfig, openPeftAdapter, parsePeftConfig, peftAdapterFromTensors, type PeftLoraConfig } from "../../src/sources/peft.js";
import type { TensorRef } from "../../src/sources/tensor-ref.js";

function fakeRef(name: string, shape: number[] = [1]): TensorRef {
  return { name, dtype: "F32", shape, byteLength: shape.reduce((a, b) => a * b, 4), origin: "test", chunks: async function* () {} };
}

const CONFIG = parsePeftConfig(JSON.stringify({ peft_type: "LORA", r: 8, lora_alpha: 16 }), "adapter_config.json");

function config(over: Partial<PeftLoraConfig>): PeftLoraConfig {
  return { ...CONFIG, ...over };
}

test("a plain adapter: config read, tensors grouped by module", async () => {
  const a = await openPeftAdapter(fixture("lora", "plain"));
  try {
    assert.equal(a.config.r, 8);
    assert.equal(a.config.loraAlpha, 16);
    assert.equal(a.config.useRslora, false);
    assert.equal(a.config.baseModelNameOrPath, "truecast/tiny-base");
    assert.deepEqual(a.modules.map((m) => m.module).sort(), [
      "model.layers.0.mlp.down_proj", "model.layers.0.mlp.up_proj", "model.layers.0.self_attn.k_proj",
      "model.layers.0.self_attn.o_proj", "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
    ]);
    const q = a.modules.find((m) => m.module.endsWith("q_proj"));
    assert.equal(q?.kind, "linear");
    assert.equal(q?.a.name, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
    assert.deepEqual(q?.a.shape, [8, 64]);
    assert.deepEqual(q?.b.shape, [64, 8]);
    assert.equal(a.replacements.length, 0);
  } finally {
    await a.close();
  }
});

test("DoRA and embedding tensors: magnitude vectors and lora_embedding_A/B", async () => {
  const a = await openPeftAdapter(fixture("lora", "dora"));
  try {
    assert.equal(a.config.useDora, true);
    const e = a.modules.find((m) => m.module === "model.embed_tokens");
    assert.equal(e?.kind, "embedding");
    assert.equal(e?.a.name, "base_model.model.model.embed_tokens.lora_embedding_A");
    assert.equal(e?.magnitude?.name, "base_model.model.model.embed_tokens.lora_magnitude_vector");
    assert.ok(a.modules.every((m) => m.magnitude !== null));
  } finally {
    await a.close();
  }
});

test("adapter_model.bin: modules_to_save weights and saved base-layer biases become replacements", async () => {
  const a = await openPeftAdapter(fixture("lora", "modules_to_save"));
  try {
    assert.ok(a.weightsPath.endsWith("adapter_model.bin"));
    const reps = a.replacements.map((r) => [r.target, r.reason, r.tensor.name]).sort();
    assert.deepEqual(reps, [
      ["model.layers.0.self_attn.o_proj.bias", "base_layer", "base_model.model.model.layers.0.self_attn.o_proj.base_layer.bias"],
      ["score.weight", "modules_to_save", "base_model.model.score.weight"],
    ]);
  } finally {
    await a.close();
  }
});

test("lora_B.bias is grouped with its module when lora_bias is set", async () => {
  const a = await openPeftAdapter(fixture("lora", "lora_bias"));
  try {
    assert.ok(a.modules.every((m) => m.bBias !== null && m.bBias.name.endsWith(".lora_B.bias")));
  } finally {
    await a.close();
  }
});

test("a peft_type other than LORA is refused naming it", async () => {
  await assert.rejects(openPeftAdapter(fixture("lora", "bad_peft_type")), (e: Error & { code?: string }) => {
    assert.equal(e.code, "ADAPTER_UNSUPPORTED");
    assert.match(e.message, /peft_type "IA3" is not supported/);
    return true;
  });
});

test("an unknown adapter key is refused naming it", async () => {
  await assert.rejects(openPeftAdapter(fixture("lora", "bad_unknown_key")), (e: Error & { code?: string }) => {
    assert.equal(e.code, "ADAPTER_INVALID");
    assert.match(e.message, /"base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_T\.weight"/);
    return true;
  });
});

test("a key that is neither LoRA, modules_to_save nor bias is refused", () => {
  assert.throws(() => groupAdapterTensors({ tensors: [fakeRef("base_model.model.model.norm.weight")], config: CONFIG, file: "f" }),
    { code: "ADAPTER_INVALID", message: /"base_model\.model\.model\.norm\.weight" is not a LoRA factor/ });
});

test("a key without the base_model.model. prefix is refused", () => {
  assert.throws(() => groupAdapterTensors({ tensors: [fakeRef("model.q_proj.lora_A.weight")], config: CONFIG, file: "f" }),
    { code: "ADAPTER_INVALID", message: /does not start with "base_model\.model\."/ });
});

test("a module with lora_A but no lora_B is refused", () => {
  assert.throws(() => groupAdapterTensors({ tensors: [fakeRef("base_model.model.x.q_proj.lora_A.weight")], config: CONFIG, file: "f" }),
    { code: "ADAPTER_INVALID", message: /module "x\.q_proj" has no lora_B tensor/ });
});

test("a magnitude vector without use_dora is refused", () => {
  const tensors = ["lora_A.weight", "lora_B.weight", "lora_magnitude_vector"].map((s) => fakeRef(`base_model.model.x.${s}`));
  assert.throws(() => groupAdapterTensors({ tensors, config: CONFIG, file: "f" }), { code: "ADAPTER_INVALID", message: /use_dora is false/ });
  assert.equal(groupAdapterTensors({ tensors, config: config({ useDora: true }), file: "f" }).modules.length, 1);
});

test("bias keys are replacements only when the config trained biases", () => {
  const tensors = [fakeRef("base_model.model.model.norm.bias")];
  assert.throws(() => groupAdapterTensors({ tensors, config: CONFIG, file: "f" }), { code: "ADAPTER_INVALID" });
  const { replacements } = groupAdapterTensors({ tensors, config: config({ bias: "all" }), file: "f" });
  assert.deepEqual(replacements.map((r) => [r.target, r.reason]), [["model.norm.bias", "bias"]]);
});

test("config: LoRA variants truecast cannot merge are refused by option name", () => {
  assert.throws(() => parsePeftConfig(JSON.stringify({ peft_type: "LORA", r: 8, use_qalora: true }), "c.json"),
    { code: "ADAPTER_UNSUPPORTED", message: /"use_qalora" is set/ });
  assert.throws(() => parsePeftConfig(JSON.stringify({ peft_type: "LORA", r: 8, init_lora_weights: "pissa_niter_4" }), "c.json"),
    { code: "ADAPTER_UNSUPPORTED", message: /pissa_niter_4.*changes the base weights/ });
});

test("config: r must be a positive integer and patterns positive numbers", () => {
  assert.throws(() => parsePeftConfig(JSON.stringify({ peft_type: "LORA", r: 0 }), "c.json"), { code: "ADAPTER_INVALID", message: /"r" must be a positive integer/ });
  assert.throws(() => parsePeftConfig(JSON.stringify({ peft_type: "LORA", r: 4, rank_pattern: { q: 2.5 } }), "c.json"),
    { code: "ADAPTER_INVALID", message: /"rank_pattern" entry "q"/ });
  const c = parsePeftConfig(JSON.stringify({ peft_type: "LORA", r: 4, lora_alpha: 8, alpha_pattern: { q: 2.5 }, modules_to_save: null }), "c.json");
  assert.equal(c.alphaPattern.get("q"), 2.5);
  assert.deepEqual(c.modulesToSave, []);
});

test("a folder without adapter_config.json is NOT_FOUND", async () => {
  await assert.rejects(openPeftAdapter(fixture("lora", "base")), { code: "NOT_FOUND", message: /adapter_config\.json: not found/ });
});

test("peftAdapterFromTensors groups renamed tensors with a config built in code", () => {
  const tensors = ["lora_A.weight", "lora_B.weight"].map((s) => fakeRef(`base_model.model.model.layers.0.q_proj.${s}`));
  const a = peftAdapterFromTensors({ path: "exp", weightsPath: "exp/checkpoint.pth", config: makeLoraConfig({ r: 4, loraAlpha: 16 }), tensors, close: async () => {} });
  assert.deepEqual(a.modules.map((m) => m.module), ["model.layers.0.q_proj"]);
  assert.equal(a.config.bias, "none");
});
