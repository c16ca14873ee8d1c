/**
 * The LoRA merge transform: a base SourceModel plus a PEFT adapter gives a SourceModel whose targeted weights
 * are merged lazily (one weight at a time, when the writer pulls it), in float32, rounded once into the output
 * dtype. Every other base tensor passes through untouched. Every adapter tensor is routed somewhere, or the merge
 * is refused before anything is computed.
 */
import { TruecastError } from "../../errors.js";
import { isFloatDType, type DType, type FloatDType } from "../../dtype/table.js";
import type { LoraModuleTensors, PeftAdapter } from "../../sources/peft.js";
import type { SourceModel, TensorRef } from "../../sources/tensor-ref.js";
import { planLayouts, readBaseArchitecture, type BaseArchitecture, type LayoutSource } from "./layout.js";
import { mergedWeightRef } from "./merged-weight.js";
import { createMergePool, type MergePool } from "./pool.js";
import type { LoraModuleReport, LoraReport, LoraTensorRoute, MergeCounts } from "./report.js";
import { moduleScaling } from "./scaling.js";
import { retargetTiedOutput } from "./tied-output.js";
import { mergedBiasRef, replacementRef } from "./small-tensors.js";
import { isDecodable, type DecodableDType } from "./tensor-io.js";

export interface MergeLoraParams {
  readonly base: SourceModel;
  readonly adapter: PeftAdapter;
  /** The dtype of each merged tensor, from its base dtype. Default: the base's own dtype. Must be F16, BF16, F32 or F64. */
  readonly outputDtype?: (baseDtype: DType) => DType;
  /** Worker pool for the products. Default: one of `os.availableParallelism()` threads, started on first use and stopped by the merged model's `close()`. */
  readonly pool?: MergePool;
  /** Elements per block of rows a merged weight is computed in; default 2²¹ (see merged-weight.ts). */
  readonly blockElements?: number;
  /** The base's architecture, which tells Conv1D from nn.Linear layers; default: read from the base's config.json. */
  readonly architecture?: BaseArchitecture | null;
  /** The adapter's config file, named in the advice when a layout is unknown. */
  readonly configFile?: string;
}

export interface MergeLoraResult {
  /** The merged model. Its `close()` also closes the base, the adapter, and a pool the merge started. */
  readonly model: SourceModel;
  /** Routes and module settings are complete now; per-tensor counts are filled in as tensors are read. */
  readonly report: LoraReport;
}

function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function newCounts(elements: number): MergeCounts {
  return { elements, changed: null, tooSmall: null, cast: null };
}

function invalid(file: string, message: string): never {
  throw new TruecastError("ADAPTER_INVALID", `${file}: ${message}`);
}

/** Merge a PEFT LoRA adapter into a base model (see the file comment). Checks everything before returning. */
export async function mergeLora(params: MergeLoraParams): Promise<MergeLoraResult> {
  const { base } = params;
  const tied = await retargetTiedOutput(base, params.adapter);
  const adapter = tied.adapter;
  const file = adapter.weightsPath;
  const config = adapter.config;
  const pick = params.outputDtype ?? ((d: DType) => d);
  const outputDtypeFor = (d: DType, tensor: string): FloatDType => {
    const out = pick(d);
    if (!isFloatDType(out)) throw new TruecastError("USAGE", `output dtype ${out} asked for "${tensor}" is not a float dtype (F16, BF16, F32, F64)`);
    return out;
  };
  let pool: MergePool | null = params.pool ?? null;
  let ownPool: MergePool | null = null;
  const getPool = (): MergePool => {
    if (pool === null) pool = ownPool = createMergePool();
    return pool;
  };

  const baseByName = new Map(base.tensors.map((t) => [t.name, t] as const));
  const routes: LoraTensorRoute[] = [];
  const notes: string[] = [...tied.notes];
  const output = new Map<string, TensorRef>();
  const added: TensorRef[] = [];

  // 1. full tensors that replace (or add) base tensors; a LoRA module on the same weight merges on top of them
  const current = new Map<string, TensorRef>();
  for (const rep of adapter.replacements) {
    const old = baseByName.get(rep.target);
    if (current.has(rep.target)) invalid(file, `two adapter tensors replace "${rep.target}"`);
    const outDtype = old !== undefined && isFloatDType(old.dtype) ? outputDtypeFor(old.dtype, rep.target) : null;
    const ref = replacementRef({ target: rep.target, tensor: rep.tensor, outDtype, file });
    current.set(rep.target, ref);
    routes.push({ adapterTensor: rep.tensor.name, role: rep.reason, target: rep.target, action: old === undefined ? "added" : "replaced" });
    if (old === undefined) {
      added.push(ref);
      notes.push(`${rep.target}: not in the base; added from the adapter (${rep.reason})`);
    } else {
      output.set(rep.target, ref);
      if (old.shape.join(",") !== rep.tensor.shape.join(",")) {
        notes.push(`${rep.target}: the adapter's ${JSON.stringify(rep.tensor.shape)} replaces the base's ${JSON.stringify(old.shape)}`);
      }
    }
  }
  const weightOf = (name: string): TensorRef | undefined => current.get(name) ?? baseByName.get(name);

  // 2. LoRA modules: each one's weight, and which way it is stored (never guessed from a square shape)
  const weights = new Map<string, TensorRef & { readonly dtype: DecodableDType }>();
  for (const m of adapter.modules) {
    const weightName = `${m.module}.weight`;
    const w = weightOf(weightName);
    if (w === undefined) {
      invalid(file, `the adapter targets module "${m.module}" but the base (${base.path}) has no tensor "${weightName}"; ` +
        `is this adapter for ${config.baseModelNameOrPath ?? "another model"}?`);
    }
    if (!isDecodable(w.dtype)) {
      throw new TruecastError("UNSUPPORTED_DTYPE", `${w.origin}: "${w.name}" is ${w.dtype}; a LoRA merge needs an F16, BF16 or F32 base weight (a quantized base must be replaced by its unquantized original)`);
    }
    weights.set(m.module, w as TensorRef & { readonly dtype: DecodableDType });
  }
  const architecture = params.architecture !== undefined ? params.architecture : await readBaseArchitecture(base.files.get("config.json"));
  const planned = planLayouts({
    modules: adapter.modules, weights, config, architecture, file,
    ...(params.configFile === undefined ? {} : { configFile: params.configFile }),
  });
  notes.push(...planned.notes);
  const modules: LoraModuleReport[] = [];
  for (const m of adapter.modules) {
    const weightName = `${m.module}.weight`;
    const w = weights.get(m.module) as TensorRef & { readonly dtype: DecodableDType };
    const { layout, from: layoutFrom } = planned.layouts.get(m.module) as { layout: "out×in" | "in×out"; from: LayoutSource };
    const rank = m.a.shape[0] as number;
    const s = moduleScaling(config, m.module, file, rank);
    if (s.r !== rank) {
      invalid(file, `module "${m.module}" has rank ${rank} in its tensors but the config (r, rank_pattern) gives ${s.r}`);
    }
    const outDtype = outputDtypeFor(w.dtype, weightName);
    const [rows, cols] = w.shape as [number, number];
    const weightCounts = newCounts(rows * cols);
    const merged = mergedWeightRef({
      name: weightName, module: m.module, file, base: w, baseDtype: w.dtype, outDtype, rows, cols, layout,
      a: m.a, b: m.b, rank, scale32: s.scale32, magnitude: m.magnitude, counts: weightCounts, pool: getPool,
      ...(params.blockElements === undefined ? {} : { blockElements: params.blockElements }),
    });
    if (baseByName.has(weightName)) output.set(weightName, merged);
    else added[added.indexOf(current.get(weightName) as TensorRef)] = merged;
    const roleA = m.kind === "embedding" ? "lora_embedding_A" : "lora_A";
    const roleB = m.kind === "embedding" ? "lora_embedding_B" : "lora_B";
    routes.push({ adapterTensor: m.a.name, role: roleA, target: weightName, action: "merged" });
    routes.push({ adapterTensor: m.b.name, role: roleB, target: weightName, action: "merged" });
    if (m.magnitude !== null) routes.push({ adapterTensor: m.magnitude.name, role: "lora_magnitude_vector", target: weightName, action: "merged" });

    let bias: LoraModuleReport["bias"] = null;
    if (m.bBias !== null) {
      const biasName = `${m.module}.bias`;
      const b = weightOf(biasName);
      if (b === undefined) invalid(file, `module "${m.module}" has lora_B.bias but the base has no "${biasName}" to merge it into`);
      if (!isDecodable(b.dtype)) throw new TruecastError("UNSUPPORTED_DTYPE", `${b.origin}: "${biasName}" is ${b.dtype}; expected F16, BF16 or F32`);
      const biasCounts = newCounts(numelOf(b.shape));
      const ref = mergedBiasRef({ module: m.module, file, base: b, bBias: m.bBias, scale32: s.scale32, outDtype: outputDtypeFor(b.dtype, biasName), counts: biasCounts });
      if (baseByName.has(biasName)) output.set(biasName, ref);
      else added[added.indexOf(current.get(biasName) as TensorRef)] = ref;
      routes.push({ adapterTensor: m.bBias.name, role: "lora_B.bias", target: biasName, action: "merged" });
      bias = Object.assign(biasCounts, { tensor: biasName });
    }
    modules.push({
      module: m.module, kind: m.kind, variant: m.magnitude === null ? "lora" : "dora", baseTensor: w.name, layout, layoutFrom,
      rank, alpha: s.alpha, scaling: s.scaling, inputDtype: w.dtype, outputDtype: outDtype, weight: weightCounts, bias,
    });
  }

  const tensors = [...base.tensors.map((t) => output.get(t.name) ?? t), ...added];
  const report: LoraReport = {
    adapter: adapter.path,
    weightsFile: adapter.weightsPath,
    baseModelNameOrPath: config.baseModelNameOrPath,
    routes,
    modules,
    notes,
  };
  const model: SourceModel = {
    kind: `${base.kind} + LoRA adapter`,
    path: base.path,
    tensors,
    files: base.files,
    weightFiles: [...(base.weightFiles ?? []), ...(adapter.weightFiles ?? [])],
    ...(base.commit !== undefined ? { commit: base.commit } : {}),
    notes: [...base.notes, `merged LoRA adapter ${adapter.path}: ${modules.length} modules, ${adapter.replacements.length} replaced tensors`, ...notes],
    async close(): Promise<void> {
      try {
        if (ownPool !== null) await ownPool.close();
      } finally {
        await Promise.all([base.close(), adapter.close()]);
      }
    },
  };
  return { model, report };
}
