import { ADAPTER_CONFIG_FILE, readSideFile } from "../formats/side-file.js";
import { join } from "node:path";
import { TruecastError } from "../errors.js";
import type { H2oConfig } from "./h2o-config.js";
import { makeLoraConfig, parsePeftConfig, type PeftLoraConfig } from "./peft.js";

/**
 * The LoRA settings of an H2O LLM Studio experiment. H2O builds its LoraConfig from cfg.yaml (`prepare_lora`: r,
 * lora_alpha, target_modules, use_dora, use_rslora; fan_in_fan_out left at False) both when it trains and when its
 * own export merges (`load_cfg_model_tokenizer` → `merge_and_unload`), so cfg.yaml is authoritative for the numbers.
 * When `lora_unfreeze_layers` is empty it also saves the PEFT adapter (`save_checkpoint` →
 * `backbone.save_pretrained("adapter_model")`), whose adapter_config.json is PEFT's record of that same config, plus
 * what cfg.yaml cannot say: `fan_in_fan_out` as PEFT set it from the wrapped modules' type (true for GPT-2's Conv1D).
 * That file, when present, is read: its fan_in_fan_out tells layouts, and a disagreement on anything that changes
 * the merge means one of the two files was changed after training, which truecast refuses to settle by guessing.
 */

/** Where H2O saves the adapter, relative to the experiment folder. */
export const H2O_ADAPTER_CONFIG = join("adapter_model", "adapter_config.json");

export interface H2oLoraConfig {
  readonly config: PeftLoraConfig;
  /** The adapter_config.json read, or null when the experiment has none. */
  readonly adapterConfig: string | null;
  readonly notes: readonly string[];
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = new Set(a);
  const y = new Set(b);
  return x.size === y.size && [...x].every((v) => y.has(v));
}

/** cfg.yaml's LoRA settings, checked against (and completed by) `adapter_model/adapter_config.json` when present. */
export async function readH2oLoraConfig(p: { dir: string; cfg: H2oConfig; targetModules: readonly string[] }): Promise<H2oLoraConfig> {
  const { cfg } = p;
  const fromCfg = makeLoraConfig({
    r: cfg.lora.r,
    loraAlpha: cfg.lora.alpha,
    useDora: cfg.lora.useDora,
    useRslora: cfg.lora.useRslora,
    targetModules: [...p.targetModules],
    baseModelNameOrPath: cfg.llmBackbone,
  });
  const path = join(p.dir, H2O_ADAPTER_CONFIG);
  let text: string;
  try {
    text = await readSideFile(path, ADAPTER_CONFIG_FILE);
  } catch (e) {
    if (e instanceof TruecastError) throw e;
    const why = cfg.lora.unfreezeLayers.length > 0 ? " (H2O writes none when lora_unfreeze_layers is set)" : "";
    return {
      config: fromCfg,
      adapterConfig: null,
      notes: [`no ${H2O_ADAPTER_CONFIG}${why}: LoRA settings from cfg.yaml, layer layouts from the base architecture`],
    };
  }
  const a = parsePeftConfig(text, path);
  const differ: string[] = [];
  const check = (what: string, ours: unknown, theirs: unknown) => {
    if (ours !== theirs) differ.push(`${what} (cfg.yaml ${JSON.stringify(ours)}, adapter_config.json ${JSON.stringify(theirs)})`);
  };
  check("lora_r / r", cfg.lora.r, a.r);
  check("lora_alpha", cfg.lora.alpha, a.loraAlpha);
  check("use_rslora", cfg.lora.useRslora, a.useRslora);
  check("use_dora", cfg.lora.useDora, a.useDora);
  if (a.rankPattern.size > 0) differ.push("rank_pattern (set in adapter_config.json; cfg.yaml has no such setting)");
  if (a.alphaPattern.size > 0) differ.push("alpha_pattern (set in adapter_config.json; cfg.yaml has no such setting)");
  const theirTargets = typeof a.targetModules === "string" ? [a.targetModules] : a.targetModules ?? [];
  if (cfg.lora.targetModules !== null && !sameSet(cfg.lora.targetModules, theirTargets)) {
    differ.push(`target modules (cfg.yaml ${cfg.lora.targetModules.join(", ")}, adapter_config.json ${theirTargets.join(", ")})`);
  }
  if (differ.length > 0) {
    throw new TruecastError(
      "CONFIG_INVALID",
      `${p.dir}: cfg.yaml and ${H2O_ADAPTER_CONFIG} disagree on ${differ.join("; ")}. Both are written from the same ` +
        `settings when H2O LLM Studio trains, so one was changed afterwards and the merge would be wrong with the other; ` +
        `correct the one that does not match the run (or remove ${H2O_ADAPTER_CONFIG}) and export again`,
    );
  }
  return {
    config: { ...fromCfg, fanInFanOut: a.fanInFanOut, fanInFanOutStated: a.fanInFanOutStated },
    adapterConfig: path,
    notes: [`LoRA settings from cfg.yaml, as ${H2O_ADAPTER_CONFIG} also records them${a.fanInFanOutStated ? `, with fan_in_fan_out=${a.fanInFanOut} as PEFT set it` : ""}`],
  };
}
