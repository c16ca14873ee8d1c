/**
 * planLayouts: which way each LoRA-targeted weight is stored, from the architecture, a non-square shape or the
 * adapter's stated fan_in_fan_out, never from a square shape. Shapes only: no bytes are read.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { TruecastError } from "../../../src/errors.js";
import { makeLoraConfig, type LoraModuleTensors, type PeftLoraConfig } from "../../../src/sources/peft.js";
import type { TensorRef } from "../../../src/sources/tensor-ref.js";
import { planLayouts, type BaseArchitecture } from "../../../src/transforms/lora/layout.js";

function ref(name: string, shape: number[]): TensorRef {
  return {
    name, dtype: "F32", shape, byteLength: shape.reduce((a, b) => a * b, 4), origin: "test",
    chunks: () => { throw new Error("no bytes are read"); },
  };
}

/** A module with rank 2 whose weight is `stored` ([out, in] or [in, out] given as the weight's shape). */
function mod(module: string, out: number, inn: number, stored: "out×in" | "in×out") {
  const m: LoraModuleTensors = { module, kind: "linear", a: ref(`${module}.lora_A`, [2, inn]), b: ref(`${module}.lora_B`, [out, 2]), magnitude: null, bBias: null };
  return { m, w: ref(`${module}.weight`, stored === "out×in" ? [out, inn] : [inn, out]) };
}

function plan(mods: ReturnType<typeof mod>[], config: PeftLoraConfig, architecture: BaseArchitecture | null) {
  return planLayouts({ modules: mods.map((x) => x.m), weights: new Map(mods.map((x) => [x.m.module, x.w])), config, architecture, file: "adapter.safetensors" });
}

const arch = (modelType: string | null, remoteCode = false): BaseArchitecture => ({ modelType, remoteCode, configPath: "config.json" });
const stated = (fanInFanOut: boolean) => makeLoraConfig({ r: 2, loraAlpha: 4, fanInFanOut, fanInFanOutStated: true });
const unstated = makeLoraConfig({ r: 2, loraAlpha: 4 });
const layoutsOf = (r: ReturnType<typeof plan>) => Object.fromEntries([...r.layouts].map(([k, v]) => [k, `${v.layout} ${v.from}`]));

test("gpt2: Conv1D modules by name from the architecture, whatever the config says; lm_head is nn.Linear", () => {
  const r = plan([mod("transformer.h.0.attn.c_proj", 8, 8, "in×out"), mod("transformer.h.0.attn.c_attn", 24, 8, "in×out"), mod("lm_head", 8, 8, "out×in")], stated(false), arch("gpt2"));
  assert.deepEqual(layoutsOf(r), {
    "transformer.h.0.attn.c_proj": "in×out architecture",
    "transformer.h.0.attn.c_attn": "in×out architecture",
    lm_head: "out×in architecture",
  });
});

test("gpt_bigcode's c_proj is nn.Linear (only transformers' Conv1D users are listed)", () => {
  const r = plan([mod("transformer.h.0.attn.c_proj", 8, 8, "out×in")], unstated, arch("gpt_bigcode"));
  assert.deepEqual(layoutsOf(r), { "transformer.h.0.attn.c_proj": "out×in architecture" });
});

test("gpt2 with shapes that do not fit its Conv1D layer: refused", () => {
  assert.throws(() => plan([mod("transformer.h.0.attn.c_attn", 24, 8, "out×in")], unstated, arch("gpt2")),
    (e: unknown) => e instanceof TruecastError && e.code === "ADAPTER_INVALID" && /in gpt2 it is Conv1D, stored \[in, out\], but the shapes do not fit that/.test(e.message));
});

test("llama: a square q_proj is nn.Linear by the architecture even when the config says fan_in_fan_out true", () => {
  const r = plan([mod("model.layers.0.self_attn.q_proj", 8, 8, "out×in")], stated(true), arch("llama"));
  assert.deepEqual(layoutsOf(r), { "model.layers.0.self_attn.q_proj": "out×in architecture" });
  assert.match(r.notes[0] ?? "", /^the adapter config says fan_in_fan_out=true, but 1 modules are nn\.Linear, stored \[out, in\] \(model\.layers\.0\.self_attn\.q_proj\): merged as such, as PEFT does/);
});

test("unknown architecture: non-square weights by shape, square ones by a stated fan_in_fan_out that agrees with them", () => {
  const r = plan([mod("blk.0.c_attn", 24, 8, "in×out"), mod("blk.0.c_proj", 8, 8, "in×out")], stated(true), arch("custom", true));
  assert.deepEqual(layoutsOf(r), { "blk.0.c_attn": "in×out shape", "blk.0.c_proj": "in×out adapter config" });
});

function refused(mods: ReturnType<typeof mod>[], config: PeftLoraConfig, a: BaseArchitecture | null, why: RegExp): void {
  assert.throws(() => plan(mods, config, a), (e: unknown) =>
    e instanceof TruecastError && e.code === "LORA_LAYOUT_UNKNOWN" &&
    /^adapter\.safetensors: module "blk\.0\.c_proj": its weight is square \(lora_A \[2,8\], lora_B \[8,2\], base \[8,8\]\)/.test(e.message) &&
    why.test(e.message) && /Nothing was written\./.test(e.message));
}

test("a square weight with no architecture and no stated fan_in_fan_out: refused by name", () => {
  refused([mod("blk.0.c_proj", 8, 8, "in×out")], unstated, null, /the base model has no readable config\.json .* and the adapter's config does not state fan_in_fan_out/);
  refused([mod("blk.0.c_proj", 8, 8, "in×out")], unstated, arch(null), /names no model_type/);
  refused([mod("blk.0.c_proj", 8, 8, "in×out")], unstated, arch("custom", true), /"custom" is remote code/);
});

test("a stated fan_in_fan_out the adapter's own non-square modules contradict does not decide a square weight", () => {
  // PEFT writes into the config the type of the last module it wrapped: here it says Linear, c_attn shows Conv1D
  refused([mod("blk.0.c_attn", 24, 8, "in×out"), mod("blk.0.c_proj", 8, 8, "in×out"), mod("head", 8, 32, "out×in")], stated(false), arch("custom", true),
    /fan_in_fan_out=false contradicts the layout its non-square modules show/);
});

test("a model_type that is not transformers' Conv1D user but shows [in, out] weights is not assumed nn.Linear", () => {
  refused([mod("blk.0.c_attn", 24, 8, "in×out"), mod("blk.0.c_proj", 8, 8, "in×out")], unstated, arch("mygpt"),
    /the adapter's other modules show \[in, out\] weights, so the base \("mygpt"\) is not transformers' own model/);
});
