/**
 * Model folders for the audit tests, written at test time: a tiny Llama-named model in bfloat16 with a config,
 * and the damage each case needs (values with NaN, ±inf, float16-unsafe magnitudes, zeros, subnormals; lying
 * configs; tied heads; cards). Values are exact bit patterns, so the counts the tests expect are exact.
 */
import { bf16Weights, f32, u16, writeModelFolder, type TestTensor } from "../support/build-model.js";

export const EMBED = "model.embed_tokens.weight";
export const HEAD = "lm_head.weight";
export const Q = "model.layers.0.self_attn.q_proj.weight";
export const NORM = "model.norm.weight";

/** bfloat16 bit patterns. */
export const BF16 = { nan: 0x7fc0, inf: 0x7f80, negInf: 0xff80, big: 0x47c3 /* 99840 */, one: 0x3f80, subnormal: 0x0001, zero: 0x0000 };

/** The base tensors: embedding, q_proj, norm, head, all bfloat16 of modest magnitude. */
export function baseTensors(): TestTensor[] {
  return [
    { name: EMBED, dtype: "BF16", shape: [8, 4], data: bf16Weights(32, 1) },
    { name: Q, dtype: "BF16", shape: [4, 4], data: bf16Weights(16, 2) },
    { name: NORM, dtype: "BF16", shape: [4], data: u16([BF16.one, BF16.one, BF16.one, BF16.one]) },
    { name: HEAD, dtype: "BF16", shape: [8, 4], data: bf16Weights(32, 3) },
  ];
}

export function baseConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { architectures: ["LlamaForCausalLM"], model_type: "llama", torch_dtype: "bfloat16", tie_word_embeddings: false, ...extra };
}

/** Replaces (or adds) tensors by name. */
export function withTensors(base: TestTensor[], ...changed: TestTensor[]): TestTensor[] {
  const names = new Set(changed.map((t) => t.name));
  return [...base.filter((t) => !names.has(t.name)), ...changed];
}

/** Writes a model folder `dir` from the base with the given changes. */
export async function writeCase(dir: string, p: { tensors?: TestTensor[]; config?: Record<string, unknown> | null; files?: Record<string, string> } = {}): Promise<string> {
  await writeModelFolder(dir, {
    tensors: p.tensors ?? baseTensors(),
    ...(p.config === null ? {} : { config: p.config ?? baseConfig() }),
    ...(p.files ? { files: p.files } : {}),
  });
  return dir;
}

/** A float32 tensor of exact values. */
export function f32Tensor(name: string, values: number[]): TestTensor {
  return { name, dtype: "F32", shape: [values.length], data: f32(values) };
}

/** A bfloat16 tensor of exact bit patterns. */
export function bf16Tensor(name: string, bits: number[]): TestTensor {
  return { name, dtype: "BF16", shape: [bits.length], data: u16(bits) };
}
