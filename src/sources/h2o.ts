import { CONFIG_FILE, parseSideJson, readSideFile } from "../formats/side-file.js";
import { isAbsolute, join, resolve } from "node:path";
import { TruecastError } from "../errors.js";
import { isFile } from "./base-model-cache.js";
import { resolveBaseModelFiles, type ResolvedBase, type ResolvedBaseWeights } from "./base-model.js";
import { readH2oLoraConfig } from "./h2o-adapter-config.js";
import { readH2oConfig, type H2oConfig } from "./h2o-config.js";
import { unfreezeHits, unfreezeNotes } from "./h2o-unfreeze.js";
import { planH2oKeys, type KeyPlan } from "./h2o-keys.js";
import { openQuantizedBase, type QuantizedBase } from "./h2o-quantized.js";
import { fixVocabSize } from "./h2o-vocab.js";
import { checkCarriedPath } from "../util/real-path.js";
import type { PeftLoraConfig } from "./peft.js";
import { withRole, type SourceModel, type TensorRef } from "./tensor-ref.js";
import { openTorchFile } from "./torch.js";

/**
 * An H2O LLM Studio experiment folder (`cfg.yaml` + `checkpoint.pth`) opened as a model: `backbone.` prefixes
 * stripped, heads set apart, LoRA tensors and quantized weights exposed for the merge, and the small files
 * (config, generation config, tokenizer) taken from the experiment, else from its base model (`llm_backbone`).
 */

export const H2O_KIND = "H2O LLM Studio experiment";

/** Tokenizer files a transformers tokenizer may consist of. */
export const TOKENIZER_FILES = [
  "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "tokenizer.model",
  "spiece.model", "vocab.json", "vocab.txt", "merges.txt", "chat_template.jinja", "chat_template.json",
] as const;

/** Heads H2O saves beside the checkpoint and uploads as they are (`publish_model_to_hugging_face`). */
export const HEAD_FILES = ["classification_head.pth", "regression_head.pth"] as const;

/** Files carried from the experiment folder; cfg.yaml travels too, as H2O's own publish uploads it. */
const CARRIED = ["config.json", "generation_config.json", ...TOKENIZER_FILES, "cfg.yaml"] as const;

export interface H2oLora {
  readonly r: number;
  readonly alpha: number;
  /** cfg's `lora_target_modules`, or (when empty: H2O then targets every Linear but heads) the modules found. */
  readonly targetModules: readonly string[];
  readonly useDora: boolean;
  readonly useRslora: boolean;
  /** The raw LoRA tensors, named as PEFT saves adapters: `base_model.model.<module>.lora_A.weight`. */
  readonly tensors: readonly TensorRef[];
  /** The settings to merge with: cfg.yaml's, checked against adapter_model/adapter_config.json when present. */
  readonly config: PeftLoraConfig;
  /** The experiment's adapter_model/adapter_config.json, or null when it has none. */
  readonly adapterConfig: string | null;
}

export interface H2oQuantized {
  /** cfg's backbone_dtype (int8 or int4). */
  readonly backboneDtype: string;
  /** Export names of the quantized weights; in `tensors` they are the base model's own tensors (from `base`). */
  readonly weights: readonly string[];
  /** bitsandbytes companion tensors (SCB, weight_format, absmax, ...), never exported. */
  readonly companions: readonly TensorRef[];
  /** Where the base model's own weights are. */
  readonly base: ResolvedBaseWeights;
}

export interface H2oExtras {
  readonly cfg: H2oConfig;
  /** `classification_head.weight` / `regression_head.weight`: not among `tensors`; H2O ships them as `<head>.pth`. */
  readonly heads: readonly TensorRef[];
  /** Set when the checkpoint holds LoRA tensors: `tensors` then holds the base-layer weights under plain names. */
  readonly lora: H2oLora | null;
  /** Set for int8/int4 runs: `tensors` then holds the base model's weights in place of the quantized ones. */
  readonly quantized: H2oQuantized | null;
  /** Where files missing from the experiment came from, when any were looked for. */
  readonly base: ResolvedBase | null;
  /** Weights `lora_unfreeze_layers` made trainable in a LoRA run: taken from checkpoint.pth, as it holds them. */
  readonly unfrozen: readonly string[];
}

export type H2oExperiment = SourceModel & { readonly h2o: H2oExtras };

export interface OpenH2oParams {
  dir: string;
  /** `--base <folder>`: the base model's files (and, for int8/int4 runs, weights). */
  baseDir?: string;
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
  /** Overrides the Hugging Face cache folder the environment names. */
  cacheDir?: string;
}

export async function isH2oExperiment(dir: string): Promise<boolean> {
  return (await isFile(join(dir, "cfg.yaml"))) && (await isFile(join(dir, "checkpoint.pth")));
}

/** The same tensor under another name. */
function renamed(ref: TensorRef, name: string): TensorRef {
  if (ref.name === name) return ref;
  return {
    name,
    dtype: ref.dtype,
    shape: ref.shape,
    byteLength: ref.byteLength,
    origin: ref.origin,
    chunks: (chunkSize, _alloc, opts) => ref.chunks(chunkSize, undefined, opts),
  };
}

/**
 * config.json's `tie_word_embeddings`; transformers' default (true) when config.json leaves it out (transformers
 * writes only values that differ from the default, so a GPT-2 config omits it). Undefined without a config.json.
 */
async function tieWordEmbeddings(configPath: string | undefined): Promise<boolean | undefined> {
  if (configPath === undefined) return undefined;
  const parsed = parseSideJson(await readSideFile(configPath, CONFIG_FILE), configPath, CONFIG_FILE);
  const v = (parsed as { tie_word_embeddings?: unknown } | null)?.tie_word_embeddings;
  if (v === undefined) return true;
  return typeof v === "boolean" ? v : undefined;
}

/** Experiment files first; what is missing from the base model. config.json is required, the rest best effort. */
async function gatherFiles(p: OpenH2oParams, dir: string, cfg: H2oConfig, notes: string[]) {
  const files = new Map<string, string>();
  for (const name of CARRIED) if (await isFile(join(dir, name))) files.set(name, join(dir, name));
  const hasTokenizer = TOKENIZER_FILES.some((n) => files.has(n));
  const want = [
    ...(files.has("config.json") ? [] : ["config.json"]),
    ...(files.has("generation_config.json") ? [] : ["generation_config.json"]),
    ...(hasTokenizer ? [] : TOKENIZER_FILES),
  ];
  if (want.length === 0) return { files, base: null };
  const required = files.has("config.json") ? [] : ["config.json"];
  let base: ResolvedBase;
  try {
    base = await resolveBaseModelFiles({
      modelId: cfg.llmBackbone, want, required,
      ...(p.baseDir === undefined ? {} : { baseDir: p.baseDir }),
      ...(p.env === undefined ? {} : { env: p.env }),
      ...(p.fetch === undefined ? {} : { fetch: p.fetch }),
      ...(p.cacheDir === undefined ? {} : { cacheDir: p.cacheDir }),
    });
  } catch (e) {
    if (required.length === 0 && e instanceof TruecastError && e.code === "BASE_NOT_FOUND") {
      notes.push(`${want.join(", ")} not in the experiment and not found for ${cfg.llmBackbone}: left out`);
      return { files, base: null };
    }
    if (e instanceof TruecastError && e.code === "BASE_NOT_FOUND") {
      throw new TruecastError("BASE_NOT_FOUND", `${dir} has no config.json, so it is taken from its llm_backbone: ${e.message}`, { cause: e });
    }
    throw e;
  }
  const taken = [...base.files.keys()];
  for (const [n, path] of base.files) files.set(n, path);
  if (taken.length > 0) notes.push(`from base model ${cfg.llmBackbone} (${base.from} ${base.dir}): ${taken.join(", ")}`);
  notes.push(...base.notes);
  return { files, base };
}

async function loraOf(dir: string, cfg: H2oConfig, plan: KeyPlan, byKey: Map<string, TensorRef>, notes: string[]): Promise<H2oLora | null> {
  const tensors: TensorRef[] = [];
  const modules = new Set<string>();
  for (const [key, role] of plan.roles) {
    const ref = byKey.get(key);
    if (role.role !== "lora" || ref === undefined) continue;
    tensors.push(renamed(ref, role.name));
    modules.add(role.module.split(".").pop() ?? role.module);
  }
  if (tensors.length === 0) return null;
  const targetModules = cfg.lora.targetModules ?? [...modules].sort();
  const settings = await readH2oLoraConfig({ dir, cfg, targetModules });
  notes.push(...settings.notes);
  return {
    r: cfg.lora.r,
    alpha: cfg.lora.alpha,
    targetModules,
    useDora: cfg.lora.useDora,
    useRslora: cfg.lora.useRslora,
    tensors,
    config: settings.config,
    adapterConfig: settings.adapterConfig,
  };
}

export async function openH2oExperiment(p: OpenH2oParams): Promise<H2oExperiment> {
  const dir = resolve(p.dir);
  const cfg = await readH2oConfig(join(dir, "cfg.yaml"));
  const notes: string[] = [];
  const { files, base } = await gatherFiles(p, dir, cfg, notes);
  const ckptPath = join(dir, "checkpoint.pth");
  const tie = await tieWordEmbeddings(files.get("config.json"));
  const torch = await openTorchFile(ckptPath, tie === undefined ? undefined : { tieWordEmbeddings: tie });
  const closers: Array<() => Promise<void>> = [() => torch.close()];
  const close = async () => {
    for (const c of closers) await c();
  };
  try {
    notes.unshift(...torch.notes);
    const byKey = new Map(torch.tensors.map((t) => [t.name, t]));
    const plan = planH2oKeys({ names: torch.tensors.map((t) => t.name), file: ckptPath });
    const isQuantRun = cfg.backboneDtype === "int8" || cfg.backboneDtype === "int4";
    // Quantized weights: named by bitsandbytes companions, or int8/uint8 weights in an int8/int4 run.
    const quantized = new Map<string, TensorRef>();
    for (const [key, role] of plan.roles) {
      const ref = byKey.get(key);
      if (ref === undefined || role.role !== "weight") continue;
      const isInt = ref.dtype === "I8" || ref.dtype === "U8";
      if (plan.quantizedWeights.has(role.name) || (isQuantRun && isInt && role.name.endsWith(".weight"))) quantized.set(role.name, ref);
    }
    let qbase: QuantizedBase | null = null;
    if (quantized.size > 0) {
      qbase = await openQuantizedBase({
        ckptPath, backboneDtype: cfg.backboneDtype, quantized,
        resolve: {
          modelId: cfg.llmBackbone,
          ...(p.baseDir === undefined ? {} : { baseDir: p.baseDir }),
          ...(p.env === undefined ? {} : { env: p.env }),
          ...(p.fetch === undefined ? {} : { fetch: p.fetch }),
          ...(p.cacheDir === undefined ? {} : { cacheDir: p.cacheDir }),
        },
      });
      const opened = qbase.source;
      closers.push(() => opened.close());
    }
    const loraNotes: string[] = [];
    const lora = await loraOf(dir, cfg, plan, byKey, loraNotes);
    const tensors: TensorRef[] = [];
    const heads: TensorRef[] = [];
    const companions: TensorRef[] = [];
    // In a quantized LoRA run the run's copies of frozen weights are the base's as the run loaded them (float16, then
    // float32): every frozen weight comes from the base model in its own dtype, unless its shape changed (resized
    // vocab). What the run trained comes from the checkpoint as it holds it: the LoRA factors, and every weight
    // lora_unfreeze_layers made trainable (H2O's prepare_lora: its PEFT name contains an entry).
    const unfreeze = lora !== null ? cfg.lora.unfreezeLayers : [];
    const unfrozen: TensorRef[] = [];
    const unfrozenQuantized: string[] = [];
    const matched = new Set<string>();
    let frozenFromBase = 0;
    for (const [key, role] of plan.roles) {
      const ref = byKey.get(key);
      if (ref === undefined) continue;
      if (role.role === "head") heads.push(renamed(ref, role.name));
      else if (role.role === "quant") companions.push(renamed(ref, role.name));
      else if (role.role === "weight") {
        const hits = unfreezeHits(unfreeze, role.param);
        for (const u of hits) matched.add(u);
        const quant = qbase?.refs.get(role.name);
        const frozen = qbase && lora !== null && hits.length === 0 ? qbase.all.get(role.name) : undefined;
        if (quant) {
          tensors.push(quant);
          if (hits.length > 0) unfrozenQuantized.push(role.name);
        } else if (frozen && frozen.shape.join(",") === ref.shape.join(",")) {
          tensors.push(frozen);
          frozenFromBase++;
        } else {
          const own = renamed(ref, role.name);
          tensors.push(own);
          if (hits.length > 0) unfrozen.push(own);
        }
      }
    }
    const configPath = files.get("config.json");
    // config.json may be replaced by a corrected copy below: check where it really is before reading it.
    if (configPath !== undefined) await checkCarriedPath(configPath);
    const vocab = configPath === undefined ? null : await fixVocabSize({ configPath, tensors });
    if (vocab !== null) {
      files.set("config.json", vocab.configPath);
      notes.push(vocab.note);
      closers.push(vocab.cleanup);
    }
    for (const head of HEAD_FILES) {
      const path = join(dir, head);
      const tensorName = head.replace(/\.pth$/, ".weight");
      if (await isFile(path)) {
        files.set(head, path);
        notes.push(`${head} carried as it is (H2O ships heads as separate files)`);
        if (!heads.some((h) => h.name === tensorName)) {
          notes.push(`${tensorName} is not in checkpoint.pth; the head travels only as ${head}`);
        }
      } else if (heads.some((h) => h.name === tensorName)) {
        notes.push(`${tensorName} found in checkpoint.pth but there is no ${head}; the head is offered as a tensor only`);
      }
    }
    if (plan.backbonePrefixed > 0) notes.push(`stripped "backbone." from ${plan.backbonePrefixed} keys`);
    else notes.push(`keys carry no "backbone." prefix (a DeepSpeed save${cfg.useDeepspeed ? "" : ", though cfg.yaml says use_deepspeed: false"})`);
    if (plan.compiledUnwrapped > 0) notes.push(`stripped torch.compile's "_orig_mod." from ${plan.compiledUnwrapped} keys`);
    if (plan.peftWrapped > 0) notes.push(`stripped PEFT's "base_model.model." from ${plan.peftWrapped} keys`);
    if (plan.baseLayerRenamed > 0) notes.push(`renamed ${plan.baseLayerRenamed} LoRA base layers (<module>.base_layer.weight → <module>.weight)`);
    if (lora !== null) {
      notes.push(`LoRA run (r=${lora.r}, alpha=${lora.alpha}, targets ${lora.targetModules.join(", ")}): ${lora.tensors.length} LoRA tensors set apart for the merge`);
      notes.push(...loraNotes);
    } else if (cfg.lora.enabled) notes.push("cfg.yaml says lora: true but checkpoint.pth holds no LoRA tensors");
    notes.push(...unfreezeNotes({ unfreeze, matched, unfrozen, unfrozenQuantized, base: qbase?.all ?? null }));
    for (const h of heads) notes.push(`head ${h.name} [${h.shape.join(", ")}] ${h.dtype} kept out of the model weights`);

    let quant: H2oQuantized | null = null;
    if (qbase !== null) {
      quant = { backboneDtype: cfg.backboneDtype, weights: [...qbase.refs.keys()], companions, base: qbase.base };
      const dtypes = [...new Set([...qbase.refs.values()].map((r) => r.dtype))].join(", ");
      notes.push(
        `${qbase.refs.size} ${cfg.backboneDtype}-quantized weights replaced by the base model's own (${dtypes}) from ${qbase.base.dir} (${qbase.base.from}); ${companions.length} bitsandbytes tensors dropped`,
      );
      if (frozenFromBase > 0) notes.push(`${frozenFromBase} frozen weights taken from the base model in its own dtype, not the run's copies`);
    }
    // Heads travel beside the weights, one safetensors file each (`classification_head.safetensors`).
    const sidecars = new Map(heads.map((h) => [h.name.replace(/\.(weight|bias)$/, ".safetensors"), [] as TensorRef[]]));
    for (const h of heads) sidecars.get(h.name.replace(/\.(weight|bias)$/, ".safetensors"))?.push(h);
    return {
      kind: H2O_KIND,
      path: dir,
      tensors,
      files,
      // checkpoint.pth, then the base model's weights that stand in for quantized ones
      weightFiles: [...withRole(torch.weightFiles, "source"), ...withRole(qbase?.source.weightFiles, "base")],
      notes,
      ...(isAbsolute(cfg.llmBackbone) ? {} : { baseModel: cfg.llmBackbone }),
      ...(sidecars.size > 0 ? { sidecars } : {}),
      close,
      h2o: { cfg, heads, lora, quantized: quant, base, unfrozen: unfrozen.map((t) => t.name) },
    };
  } catch (e) {
    await close();
    throw e;
  }
}
