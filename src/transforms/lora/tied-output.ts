/**
 * An adapter that changes a tied output embedding. A base model that ties word embeddings (`tie_word_embeddings`,
 * transformers' default when config.json leaves it out) stores one matrix for both: `lm_head.weight` is not in its
 * checkpoint, and PEFT's merge of a LoRA on `lm_head` changes that shared matrix (the input embedding too), which
 * `save_pretrained` then writes as the input embedding alone. So the adapter's `lm_head` module (and the base layer
 * PEFT saves with it, the same matrix) goes to the base's input embedding, under its name; no lm_head is written.
 */
import { readFile, stat } from "node:fs/promises";
import { TruecastError } from "../../errors.js";
import { CONFIG_FILE, parseSideJson } from "../../formats/side-file.js";
import type { PeftAdapter } from "../../sources/peft.js";
import type { SourceModel } from "../../sources/tensor-ref.js";

/** Output embeddings transformers ties to the input embeddings (module names, last part). */
const OUTPUT_MODULES = ["lm_head", "embed_out"] as const;
/** Input embedding weights of transformers' causal LMs, as their names end. */
const INPUT_EMBEDDINGS = ["embed_tokens.weight", "wte.weight", "embed_in.weight", "word_embeddings.weight", "tok_embeddings.weight"] as const;
/** A config.json is kilobytes; a larger file is not one. */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/** config.json's `tie_word_embeddings` (absent: transformers' default, true); null without a readable config.json. */
export async function readTieWordEmbeddings(configPath: string | undefined): Promise<boolean | null> {
  if (configPath === undefined) return null;
  try {
    if ((await stat(configPath)).size > MAX_CONFIG_BYTES) return null;
    const c = parseSideJson(await readFile(configPath, "utf8"), configPath, CONFIG_FILE);
    if (typeof c !== "object" || c === null || Array.isArray(c)) return null;
    const v = (c as Record<string, unknown>).tie_word_embeddings;
    return v === undefined ? true : typeof v === "boolean" ? v : null;
  } catch {
    return null;
  }
}

function isOutputModule(module: string): boolean {
  return OUTPUT_MODULES.some((n) => module === n || module.endsWith(`.${n}`));
}

/** The adapter with a tied output embedding's module and base layer renamed to the input embedding (see above). */
export async function retargetTiedOutput(base: SourceModel, adapter: PeftAdapter): Promise<{ adapter: PeftAdapter; notes: string[] }> {
  const names = new Set(base.tensors.map((t) => t.name));
  const touched = [
    ...adapter.modules.filter((m) => isOutputModule(m.module) && !names.has(`${m.module}.weight`)).map((m) => m.module),
    ...adapter.replacements.filter((r) => r.target.endsWith(".weight") && isOutputModule(r.target.slice(0, -7)) && !names.has(r.target)).map((r) => r.target.slice(0, -7)),
  ];
  if (touched.length === 0) return { adapter, notes: [] };
  const file = adapter.weightsPath;
  const module = touched[0] as string;
  const configPath = base.files.get("config.json");
  if ((await readTieWordEmbeddings(configPath)) !== true) return { adapter, notes: [] }; // mergeLora refuses it by name
  const inputs = base.tensors.filter((t) => t.shape.length === 2 && INPUT_EMBEDDINGS.some((n) => t.name === n || t.name.endsWith(`.${n}`)));
  if (inputs.length !== 1 || touched.some((m) => m !== module)) {
    throw new TruecastError("ADAPTER_UNSUPPORTED", `${file}: the adapter changes "${module}", which ${base.path} ties to its input embeddings (tie_word_embeddings), but truecast cannot tell which of its tensors that is (${inputs.map((t) => t.name).join(", ") || "none found"})`);
  }
  const input = (inputs[0] as { name: string }).name;
  const inputModule = input.slice(0, -".weight".length);
  if (adapter.modules.some((m) => m.module === inputModule) && adapter.modules.some((m) => m.module === module)) {
    throw new TruecastError(
      "ADAPTER_UNSUPPORTED",
      `${file}: the adapter has LoRA on both "${inputModule}" and "${module}", which ${base.path} ties into one matrix (tie_word_embeddings); PEFT adds both deltas to it one after the other, which truecast does not reproduce; merge with PEFT instead`,
    );
  }
  // The base layer PEFT saves with lm_head is the shared matrix itself (the same bytes as the base's input embedding).
  const replacements = adapter.replacements.map((r) => (r.target === `${module}.weight` ? { ...r, target: input } : r));
  const modules = adapter.modules.map((m) => (m.module === module ? { ...m, module: inputModule } : m));
  const notes = [
    `${module} is tied to ${inputModule} (tie_word_embeddings): the adapter's ${module} is applied to ${input}, as PEFT's merge changes the shared matrix; no ${module}.weight is written`,
  ];
  return { adapter: { ...adapter, modules, replacements }, notes };
}
