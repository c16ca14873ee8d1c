import { after, test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { openPeftAdapter } from "../../../src/sources/peft.js";
import { openSafetensorsFolder } from "../../../src/sources/safetensors.js";
import { mergeLora } from "../../../src/transforms/lora/merge-lora.js";
import { readAllBytes } from "../../../src/transforms/lora/tensor-io.js";
import { bf16, f32, writeModelFolder, writeSafetensors, type TestTensor } from "../../support/build-model.js";
import { tempDir } from "../../helpers.js";

// A tied base (config.json leaves tie_word_embeddings out: transformers' default, true) has no lm_head.weight; a
// PEFT adapter on lm_head (with the base layer PEFT saves beside it) changes the shared matrix in PEFT's merge,
// which save_pretrained writes as model.embed_tokens.weight alone. Values: embed [4, 2] = 1..8, A [1, 2] = [1, 0.5],
// B [4, 1] = [1, 2, 0, -1], alpha 2, r 1 (scaling 2): delta[i][j] = 2·B[i]·A[j].
const EMBED = [1, 2, 3, 4, 5, 6, 7, 8];
const MERGED = [3, 3, 7, 6, 5, 6, 5, 7];

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups) await c();
});

async function folders(config: Record<string, unknown>, modules: string[]) {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const base = join(dir, "base");
  await writeModelFolder(base, {
    config,
    tensors: [
      { name: "model.embed_tokens.weight", dtype: "BF16", shape: [4, 2], data: bf16(EMBED) },
      { name: "model.norm.weight", dtype: "BF16", shape: [2], data: bf16([1, 1]) },
    ],
  });
  const adapter = join(dir, "adapter");
  const tensors: TestTensor[] = modules.flatMap((m) => [
    { name: `base_model.model.${m}.lora_A.weight`, dtype: "F32", shape: [1, 2], data: f32([1, 0.5]) },
    { name: `base_model.model.${m}.lora_B.weight`, dtype: "F32", shape: [4, 1], data: f32([1, 2, 0, -1]) },
  ]);
  tensors.push({ name: "base_model.model.lm_head.base_layer.weight", dtype: "BF16", shape: [4, 2], data: bf16(EMBED) });
  await writeModelFolder(adapter, { tensors: [] });
  await writeSafetensors(join(adapter, "adapter_model.safetensors"), tensors);
  await writeFile(join(adapter, "adapter_config.json"), JSON.stringify({ peft_type: "LORA", r: 1, lora_alpha: 2, target_modules: modules }));
  return { base, adapter };
}

test("LoRA on a tied lm_head is merged into the input embedding, as PEFT's merge changes the shared matrix", async () => {
  const { base, adapter } = await folders({ model_type: "llama" }, ["lm_head"]);
  const { model, report } = await mergeLora({ base: await openSafetensorsFolder(base), adapter: await openPeftAdapter(adapter) });
  try {
    assert.deepEqual(model.tensors.map((t) => t.name), ["model.embed_tokens.weight", "model.norm.weight"]);
    const embed = model.tensors[0];
    assert.ok(embed);
    assert.deepEqual(Buffer.from(await readAllBytes(embed)), Buffer.from(bf16(MERGED)));
    assert.deepEqual(report.modules.map((m) => m.baseTensor), ["model.embed_tokens.weight"]);
    assert.ok(report.notes.some((n) => /lm_head is tied to model\.embed_tokens \(tie_word_embeddings\)/.test(n)), report.notes.join("\n"));
  } finally {
    await model.close();
  }
});

test("LoRA on both halves of a tied pair is refused by name (PEFT adds the two deltas one after the other)", async () => {
  const both = await folders({ model_type: "llama" }, ["lm_head", "model.embed_tokens"]);
  await assert.rejects(
    async () => mergeLora({ base: await openSafetensorsFolder(both.base), adapter: await openPeftAdapter(both.adapter) }),
    { code: "ADAPTER_UNSUPPORTED", message: /LoRA on both "model\.embed_tokens" and "lm_head"/ },
  );
});
