/**
 * Opens a PEFT LoRA adapter folder (`adapter_config.json` + `adapter_model.safetensors` or `adapter_model.bin`)
 * and accounts for every tensor in it: LoRA factors grouped by module, and full tensors that replace the base's.
 *
 * Saved layout (huggingface/peft `get_peft_model_state_dict`; the adapter name is removed from every key):
 * - `base_model.model.<module>.lora_A.weight` / `lora_B.weight` (Linear, Conv1D), `lora_B.bias` (`lora_bias`)
 * - `base_model.model.<module>.lora_embedding_A` / `lora_embedding_B` (Embedding, no `.weight`)
 * - `base_model.model.<module>.lora_magnitude_vector` (DoRA, saved without `.weight`)
 * - `base_model.model.<module>.base_layer.<param>` (embedding layers saved whole, biases with `bias="lora_only"`)
 * - `base_model.model.<path>.<param>` under a `modules_to_save` module, or any `.bias` with `bias="all"`
 * `<module>` is the module's name in the transformers model, which is also the base checkpoint's tensor prefix.
 */
import { access } from "node:fs/promises";
import { ADAPTER_CONFIG_FILE, parseSideJson, readSideFile } from "../formats/side-file.js";
import { join } from "node:path";
import { TruecastError } from "../errors.js";
import { openSafetensorsFile } from "./safetensors.js";
import { withRole, type SourceFile, type SourceModel, type TensorRef } from "./tensor-ref.js";
import { openTorchFile } from "./torch.js";

export const ADAPTER_CONFIG_NAME = "adapter_config.json";
export const ADAPTER_SAFETENSORS_NAME = "adapter_model.safetensors";
export const ADAPTER_BIN_NAME = "adapter_model.bin";
/** Every key of a transformers model wrapped by PeftModel starts with this. */
export const PEFT_KEY_PREFIX = "base_model.model.";

export interface PeftLoraConfig {
  readonly r: number;
  readonly loraAlpha: number;
  readonly useRslora: boolean;
  readonly useDora: boolean;
  readonly fanInFanOut: boolean;
  /**
   * Whether the config states `fan_in_fan_out` (an adapter_config.json PEFT saved always does: PEFT writes there the
   * type of the last module it wrapped); a config built in code from other settings does not.
   */
  readonly fanInFanOutStated: boolean;
  readonly targetModules: readonly string[] | string | null;
  readonly modulesToSave: readonly string[];
  /** Module-name regex → rank, matched as PEFT does (`(.*\.)?(key)$`, first key in file order wins). */
  readonly rankPattern: ReadonlyMap<string, number>;
  readonly alphaPattern: ReadonlyMap<string, number>;
  readonly loraBias: boolean;
  readonly bias: "none" | "all" | "lora_only";
  readonly baseModelNameOrPath: string | null;
  /** `peft_version` (PEFT ≥ 0.18 writes it): which release's rank_pattern/alpha_pattern matching applies. */
  readonly peftVersion: string | null;
}

/** The LoRA tensors of one targeted module. */
export interface LoraModuleTensors {
  /** The module's name in the base model, e.g. `model.layers.0.self_attn.q_proj`. */
  readonly module: string;
  readonly kind: "linear" | "embedding";
  /** lora_A `[r, in]` (Linear) or lora_embedding_A `[r, num_embeddings]`. */
  readonly a: TensorRef;
  /** lora_B `[out, r]` (Linear) or lora_embedding_B `[embedding_dim, r]`. */
  readonly b: TensorRef;
  readonly magnitude: TensorRef | null;
  readonly bBias: TensorRef | null;
}

/** A full adapter tensor that replaces (or adds) a base tensor. */
export interface AdapterReplacement {
  /** The base tensor name it replaces, e.g. `score.weight`. */
  readonly target: string;
  readonly tensor: TensorRef;
  readonly reason: "modules_to_save" | "base_layer" | "bias";
}

export interface PeftAdapter {
  readonly path: string;
  readonly weightsPath: string;
  /** The adapter's weight file as a source file of the merge; absent when its tensors come from the source itself (H2O). */
  readonly weightFiles?: readonly SourceFile[];
  readonly config: PeftLoraConfig;
  readonly modules: readonly LoraModuleTensors[];
  readonly replacements: readonly AdapterReplacement[];
  close(): Promise<void>;
}

/** Config options that change what a merge means; truecast refuses an adapter that sets any of them. */
const UNSUPPORTED_OPTIONS = [
  "use_qalora", "use_bdlora", "alora_invocation_tokens", "velora_config", "monteclora_config", "arrow_config",
  "kasa_config", "mica", "trainable_token_indices", "layer_replication", "target_parameters",
] as const;
/** `init_lora_weights` methods that also rewrite the base weights: the adapter is only valid on that rewritten base. */
const BASE_REWRITING_INITS = /^(pissa.*|olora|corda|loftq|lora_ga)$/;

function fail(code: "ADAPTER_INVALID" | "ADAPTER_UNSUPPORTED", file: string, what: string): never {
  throw new TruecastError(code, `${file}: ${what}`);
}

function isSet(v: unknown): boolean {
  return !(v === undefined || v === null || v === false || (Array.isArray(v) && v.length === 0) ||
    (typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0));
}

function readBool(obj: Record<string, unknown>, key: string, file: string): boolean {
  const v = obj[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") fail("ADAPTER_INVALID", file, `"${key}" must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function readPattern(obj: Record<string, unknown>, key: string, file: string, integer: boolean): Map<string, number> {
  const v = obj[key];
  const out = new Map<string, number>();
  if (v === undefined || v === null) return out;
  if (typeof v !== "object" || Array.isArray(v)) fail("ADAPTER_INVALID", file, `"${key}" must be an object`);
  for (const [k, n] of Object.entries(v as Record<string, unknown>)) {
    if (typeof n !== "number" || !(n > 0) || (integer && !Number.isInteger(n))) {
      fail("ADAPTER_INVALID", file, `"${key}" entry "${k}" must be a positive ${integer ? "integer" : "number"}`);
    }
    out.set(k, n);
  }
  return out;
}

/** Parse and check `adapter_config.json` (exported for tests and for H2O experiments that carry one). */
export function parsePeftConfig(text: string, file: string): PeftLoraConfig {
  const raw = parseSideJson(text, file, ADAPTER_CONFIG_FILE);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail("ADAPTER_INVALID", file, "not a JSON object");
  const c = raw as Record<string, unknown>;
  if (c.peft_type !== "LORA") {
    fail("ADAPTER_UNSUPPORTED", file, `peft_type ${JSON.stringify(c.peft_type ?? null)} is not supported; truecast merges LORA adapters only`);
  }
  for (const opt of UNSUPPORTED_OPTIONS) {
    if (isSet(c[opt])) fail("ADAPTER_UNSUPPORTED", file, `"${opt}" is set; truecast cannot merge this LoRA variant`);
  }
  const init = c.init_lora_weights;
  if (typeof init === "string" && BASE_REWRITING_INITS.test(init)) {
    fail("ADAPTER_UNSUPPORTED", file, `init_lora_weights "${init}" also changes the base weights; convert the adapter to plain LoRA with PEFT first (path_initial_model_for_weight_conversion)`);
  }
  const r = c.r;
  if (typeof r !== "number" || !Number.isInteger(r) || r <= 0) fail("ADAPTER_INVALID", file, `"r" must be a positive integer, got ${JSON.stringify(r)}`);
  const alpha = c.lora_alpha ?? 8;
  if (typeof alpha !== "number" || !Number.isFinite(alpha)) fail("ADAPTER_INVALID", file, `"lora_alpha" must be a number, got ${JSON.stringify(alpha)}`);
  const bias = c.bias ?? "none";
  if (bias !== "none" && bias !== "all" && bias !== "lora_only") fail("ADAPTER_INVALID", file, `"bias" must be none, all or lora_only`);
  const tm = c.target_modules ?? null;
  if (!(tm === null || typeof tm === "string" || (Array.isArray(tm) && tm.every((x) => typeof x === "string")))) {
    fail("ADAPTER_INVALID", file, `"target_modules" must be a string or a list of strings`);
  }
  const mts = c.modules_to_save ?? [];
  if (!Array.isArray(mts) || !mts.every((x) => typeof x === "string")) fail("ADAPTER_INVALID", file, `"modules_to_save" must be a list of strings`);
  const base = c.base_model_name_or_path ?? null;
  const version = c.peft_version ?? null;
  if (version !== null && typeof version !== "string") fail("ADAPTER_INVALID", file, `"peft_version" must be a string`);
  return {
    r,
    loraAlpha: alpha,
    useRslora: readBool(c, "use_rslora", file),
    useDora: readBool(c, "use_dora", file),
    fanInFanOut: readBool(c, "fan_in_fan_out", file),
    fanInFanOutStated: c.fan_in_fan_out !== undefined && c.fan_in_fan_out !== null,
    targetModules: tm as readonly string[] | string | null,
    modulesToSave: mts as string[],
    rankPattern: readPattern(c, "rank_pattern", file, true),
    alphaPattern: readPattern(c, "alpha_pattern", file, false),
    loraBias: readBool(c, "lora_bias", file),
    bias,
    baseModelNameOrPath: typeof base === "string" ? base : null,
    peftVersion: version,
  };
}

type Role = "lora_A" | "lora_B" | "lora_B.bias" | "lora_embedding_A" | "lora_embedding_B" | "lora_magnitude_vector";
const ROLE_SUFFIXES: readonly [string, Role][] = [
  [".lora_A.weight", "lora_A"],
  [".lora_B.weight", "lora_B"],
  [".lora_B.bias", "lora_B.bias"],
  [".lora_embedding_A", "lora_embedding_A"],
  [".lora_embedding_B", "lora_embedding_B"],
  [".lora_magnitude_vector", "lora_magnitude_vector"],
];

/** Is some module on the path of `name` (a parameter's full name) one of `modules_to_save`? (PEFT: `key.endswith(name)`.) */
function underModulesToSave(name: string, modulesToSave: readonly string[]): boolean {
  const parts = name.split(".");
  for (let n = 1; n < parts.length; n++) {
    const prefix = parts.slice(0, n).join(".");
    if (modulesToSave.some((m) => prefix.endsWith(m))) return true;
  }
  return false;
}

/** Group an adapter's tensors by module; every key must land somewhere or the adapter is refused. */
export function groupAdapterTensors(params: {
  tensors: readonly TensorRef[];
  config: PeftLoraConfig;
  file: string;
}): { modules: LoraModuleTensors[]; replacements: AdapterReplacement[] } {
  const { config, file } = params;
  const parts = new Map<string, Partial<Record<Role, TensorRef>>>();
  const replacements: AdapterReplacement[] = [];
  for (const t of params.tensors) {
    if (!t.name.startsWith(PEFT_KEY_PREFIX)) {
      fail("ADAPTER_INVALID", file, `tensor "${t.name}" does not start with "${PEFT_KEY_PREFIX}"; this is not a PEFT-saved LoRA adapter`);
    }
    const key = t.name.slice(PEFT_KEY_PREFIX.length);
    const role = ROLE_SUFFIXES.find(([suffix]) => key.endsWith(suffix));
    if (role !== undefined) {
      const module = key.slice(0, key.length - role[0].length);
      const entry = parts.get(module) ?? {};
      entry[role[1]] = t;
      parts.set(module, entry);
      continue;
    }
    if (/\.lora_[^.]*(\.|$)/.test(key)) {
      fail("ADAPTER_INVALID", file, `tensor "${t.name}" is a LoRA tensor truecast does not know; refusing to ignore it`);
    }
    const baseLayer = key.indexOf(".base_layer.");
    if (baseLayer >= 0) {
      replacements.push({ target: key.slice(0, baseLayer) + key.slice(baseLayer + ".base_layer".length), tensor: t, reason: "base_layer" });
    } else if (underModulesToSave(key, config.modulesToSave)) {
      replacements.push({ target: key, tensor: t, reason: "modules_to_save" });
    } else if (config.bias !== "none" && key.endsWith(".bias")) {
      replacements.push({ target: key, tensor: t, reason: "bias" });
    } else {
      fail("ADAPTER_INVALID", file, `tensor "${t.name}" is not a LoRA factor, a modules_to_save weight or a trained bias; refusing to ignore it`);
    }
  }
  const modules: LoraModuleTensors[] = [];
  for (const [module, e] of parts) {
    const embedding = e.lora_embedding_A !== undefined || e.lora_embedding_B !== undefined;
    const a = embedding ? e.lora_embedding_A : e.lora_A;
    const b = embedding ? e.lora_embedding_B : e.lora_B;
    if (embedding && (e.lora_A !== undefined || e.lora_B !== undefined)) {
      fail("ADAPTER_INVALID", file, `module "${module}" has both lora_A/lora_B and lora_embedding_A/lora_embedding_B`);
    }
    if (a === undefined || b === undefined) {
      const missing = embedding ? (a === undefined ? "lora_embedding_A" : "lora_embedding_B") : (a === undefined ? "lora_A" : "lora_B");
      fail("ADAPTER_INVALID", file, `module "${module}" has no ${missing} tensor`);
    }
    const magnitude = e.lora_magnitude_vector ?? null;
    if (magnitude !== null && !config.useDora) fail("ADAPTER_INVALID", file, `module "${module}" has a DoRA magnitude vector but use_dora is false`);
    if (magnitude === null && config.useDora) fail("ADAPTER_INVALID", file, `module "${module}" has no lora_magnitude_vector but use_dora is true`);
    const bBias = e["lora_B.bias"] ?? null;
    if (bBias !== null && !config.loraBias) fail("ADAPTER_INVALID", file, `module "${module}" has lora_B.bias but lora_bias is false`);
    modules.push({ module, kind: embedding ? "embedding" : "linear", a, b, magnitude, bBias });
  }
  return { modules, replacements };
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Settings for a LoRA config built in code (H2O LLM Studio keeps `lora_r` / `lora_alpha` in cfg.yaml). */
export function makeLoraConfig(fields: Partial<PeftLoraConfig> & { r: number; loraAlpha: number }): PeftLoraConfig {
  return {
    useRslora: false, useDora: false, fanInFanOut: false, fanInFanOutStated: false, targetModules: null, modulesToSave: [],
    rankPattern: new Map(), alphaPattern: new Map(), loraBias: false, bias: "none", baseModelNameOrPath: null,
    peftVersion: null, ...fields,
  };
}

/**
 * A PeftAdapter from tensors already named in PEFT's saved layout (`base_model.model.<module>.lora_A.weight`),
 * for sources that hold LoRA weights elsewhere (an H2O checkpoint's `lora_A.default.weight` keys, renamed).
 */
export function peftAdapterFromTensors(params: {
  path: string;
  weightsPath: string;
  config: PeftLoraConfig;
  tensors: readonly TensorRef[];
  close: () => Promise<void>;
}): PeftAdapter {
  const { modules, replacements } = groupAdapterTensors({ tensors: params.tensors, config: params.config, file: params.weightsPath });
  return { path: params.path, weightsPath: params.weightsPath, config: params.config, modules, replacements, close: params.close };
}

/**
 * Read and check an adapter folder's adapter_config.json (through the capped side-file reader); a missing file is
 * NOT_FOUND with what a PEFT adapter folder holds.
 */
export async function readPeftConfig(dir: string): Promise<PeftLoraConfig> {
  const configPath = join(dir, ADAPTER_CONFIG_NAME);
  let text: string;
  try {
    text = await readSideFile(configPath, ADAPTER_CONFIG_FILE);
  } catch (e) {
    if (e instanceof TruecastError) throw e;
    throw new TruecastError("NOT_FOUND", `${configPath}: not found; a PEFT adapter folder holds ${ADAPTER_CONFIG_NAME} and ${ADAPTER_SAFETENSORS_NAME}`);
  }
  return parsePeftConfig(text, configPath);
}

/** Open a PEFT LoRA adapter folder. Tensor bytes are read only when the merge asks for them. */
export async function openPeftAdapter(dir: string): Promise<PeftAdapter> {
  const config = await readPeftConfig(dir);
  let weightsPath = join(dir, ADAPTER_SAFETENSORS_NAME);
  let source: SourceModel;
  if (await exists(weightsPath)) {
    source = await openSafetensorsFile(weightsPath);
  } else {
    weightsPath = join(dir, ADAPTER_BIN_NAME);
    if (!(await exists(weightsPath))) {
      throw new TruecastError("NOT_FOUND", `${dir}: neither ${ADAPTER_SAFETENSORS_NAME} nor ${ADAPTER_BIN_NAME} is there`);
    }
    source = await openTorchFile(weightsPath);
  }
  try {
    const { modules, replacements } = groupAdapterTensors({ tensors: source.tensors, config, file: weightsPath });
    return { path: dir, weightsPath, weightFiles: withRole(source.weightFiles, "adapter"), config, modules, replacements, close: () => source.close() };
  } catch (e) {
    await source.close();
    throw e;
  }
}
