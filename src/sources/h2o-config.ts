import { checkYamlDepth, MAX_YAML_CONFIG_SIZE, readSideFile, YAML_CONFIG_FILE } from "../formats/side-file.js";
import { parse } from "yaml";
import { TruecastError } from "../errors.js";

/**
 * The parts of an H2O LLM Studio `cfg.yaml` an export needs. H2O writes the config nested by section
 * (h2o-llmstudio `python_configs/*_config.py`): `llm_backbone` and `problem_type` at the top,
 * `architecture.backbone_dtype`, `training.lora*`, `environment.use_deepspeed`, `dataset.num_classes`.
 */
export interface H2oConfig {
  /** The base model's Hub id (or a path), `llm_backbone`. */
  readonly llmBackbone: string;
  /** `architecture.backbone_dtype`: float32 | bfloat16 | float16 | int8 | int4 (H2O's default is int4). */
  readonly backboneDtype: string;
  /** `problem_type`, e.g. text_causal_language_modeling, text_causal_classification_modeling. */
  readonly problemType: string;
  readonly experimentName?: string;
  readonly useDeepspeed: boolean;
  readonly lora: {
    readonly enabled: boolean;
    readonly r: number;
    readonly alpha: number;
    /** `lora_target_modules` split on commas; null when empty (H2O then targets every Linear layer but heads). */
    readonly targetModules: readonly string[] | null;
    readonly useDora: boolean;
    readonly useRslora: boolean;
    /**
     * `training.lora_unfreeze_layers`: H2O trains in full every parameter whose PEFT name (`base_model.model.<...>`)
     * contains one of these (prepare_lora: `any(u in name for u in lora_unfreeze_layers)`); empty when unset.
     */
    readonly unfreezeLayers: readonly string[];
  };
  /** `dataset.num_classes` for classification runs. */
  readonly numClasses?: number;
}

/** A cfg.yaml is a few kilobytes; anything this large is not one. */
export const MAX_CFG_BYTES = MAX_YAML_CONFIG_SIZE;

/** H2O's defaults (ConfigNLPCausalLMTraining / ConfigNLPCausalLMArchitecture) for keys a cfg.yaml leaves out. */
const DEFAULTS = { backboneDtype: "int4", lora: true, loraR: 4, loraAlpha: 16 } as const;

type Mapping = Record<string, unknown>;

function isMapping(v: unknown): v is Mapping {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A key in its section, or at the top level (hand-flattened configs), or undefined. */
function lookup(cfg: Mapping, section: string, key: string): unknown {
  const s = cfg[section];
  if (isMapping(s) && key in s) return s[key];
  return cfg[key];
}

function bad(file: string, what: string): TruecastError {
  return new TruecastError("CONFIG_INVALID", `${file}: ${what}; fix the experiment's cfg.yaml`);
}

function str(file: string, v: unknown, key: string, fallback?: string): string {
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw bad(file, `no ${key}`);
  }
  if (typeof v !== "string" || v.trim() === "") throw bad(file, `${key} is not a non-empty string`);
  return v.trim();
}

function bool(file: string, v: unknown, key: string, fallback: boolean): boolean {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "boolean") throw bad(file, `${key} is not true or false`);
  return v;
}

function int(file: string, v: unknown, key: string, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) throw bad(file, `${key} is not a positive integer`);
  return v;
}

function positive(file: string, v: unknown, key: string, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw bad(file, `${key} is not a positive number`);
  return v;
}

/** Parse cfg.yaml text (YAML 1.1, as PyYAML writes it). `file` names it in messages. */
export function parseH2oConfig(text: string, file: string): H2oConfig {
  checkYamlDepth(text, file, YAML_CONFIG_FILE);
  let doc: unknown;
  try {
    // logLevel "error": errors still throw, but warnings (an unknown tag, ...) are never printed by the yaml
    // package itself (it would call process.emitWarning, writing to stderr even under --quiet).
    doc = parse(text, { version: "1.1", logLevel: "error" });
  } catch (e) {
    throw bad(file, `not valid YAML (${e instanceof Error ? e.message.split("\n")[0] : String(e)})`);
  }
  if (!isMapping(doc)) throw bad(file, "not a YAML mapping");
  const targets = lookup(doc, "training", "lora_target_modules");
  if (targets !== undefined && targets !== null && typeof targets !== "string") {
    throw bad(file, "training.lora_target_modules is not a comma-separated string");
  }
  const list = (targets ?? "").split(",").map((t) => t.trim()).filter((t) => t !== "");
  const unfreeze = lookup(doc, "training", "lora_unfreeze_layers") ?? [];
  if (!(typeof unfreeze === "string" || (Array.isArray(unfreeze) && unfreeze.every((u) => typeof u === "string")))) {
    throw bad(file, "training.lora_unfreeze_layers is not a list of strings");
  }
  const unfreezeLayers = (typeof unfreeze === "string" ? unfreeze.split(",") : (unfreeze as string[]))
    .map((u) => u.trim()).filter((u) => u !== "");
  const numClasses = lookup(doc, "dataset", "num_classes");
  const name = doc["experiment_name"];
  return {
    llmBackbone: str(file, doc["llm_backbone"], "llm_backbone"),
    backboneDtype: str(file, lookup(doc, "architecture", "backbone_dtype"), "architecture.backbone_dtype", DEFAULTS.backboneDtype),
    problemType: str(file, doc["problem_type"], "problem_type", "text_causal_language_modeling"),
    ...(typeof name === "string" ? { experimentName: name } : {}),
    useDeepspeed: bool(file, lookup(doc, "environment", "use_deepspeed"), "environment.use_deepspeed", false),
    lora: {
      enabled: bool(file, lookup(doc, "training", "lora"), "training.lora", DEFAULTS.lora),
      r: int(file, lookup(doc, "training", "lora_r"), "training.lora_r", DEFAULTS.loraR),
      alpha: positive(file, lookup(doc, "training", "lora_alpha"), "training.lora_alpha", DEFAULTS.loraAlpha),
      targetModules: list.length === 0 ? null : list,
      useDora: bool(file, lookup(doc, "training", "use_dora"), "training.use_dora", false),
      useRslora: bool(file, lookup(doc, "training", "use_rslora"), "training.use_rslora", false),
      unfreezeLayers,
    },
    ...(numClasses === undefined || numClasses === null ? {} : { numClasses: int(file, numClasses, "dataset.num_classes", 1) }),
  };
}

export async function readH2oConfig(path: string): Promise<H2oConfig> {
  return parseH2oConfig(await readSideFile(path, YAML_CONFIG_FILE), path);
}
