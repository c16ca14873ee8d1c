import { basename, join } from "node:path";
import { TruecastError } from "../errors.js";
import { H2O_ADAPTER_CONFIG } from "../sources/h2o-adapter-config.js";
import { ADAPTER_CONFIG_NAME, openPeftAdapter, peftAdapterFromTensors, type PeftAdapter } from "../sources/peft.js";
import { openSource, type OpenSourceOptions } from "../sources/open.js";
import type { H2oExperiment } from "../sources/h2o.js";
import type { SourceModel, TensorRef } from "../sources/tensor-ref.js";
import { mergeLora } from "../transforms/lora/index.js";
import type { LoraReport } from "../transforms/lora/index.js";
import { fillFromBase } from "./base-files.js";
import { outputDtype, type DtypePolicy } from "./plan.js";
import type { BaseRef } from "./preflight.js";
import { publicName } from "./provenance.js";
import { isHubSpec } from "../store/hub-spec.js";

export interface OpenForExportParams extends OpenSourceOptions {
  readonly source: string;
  /** A PEFT LoRA adapter folder to merge into the source. */
  readonly adapter?: string;
  readonly policy: DtypePolicy;
  /**
   * `--base` (a folder or a Hub model id): supplies config.json, tokenizer and generation files the source lacks.
   * A folder is also passed on to the source as `baseDir` (an H2O experiment's base files and weights).
   */
  readonly base?: BaseRef;
  /**
   * Download nothing into the Hugging Face cache (a dry run): a `--base` Hub id and an H2O experiment's base weights
   * are looked up in the cache only, as with HF_HUB_OFFLINE. A `hf://` source is still read from the Hub in place.
   */
  readonly noDownloads?: boolean;
}

export interface OpenedForExport {
  readonly model: SourceModel;
  /** What the LoRA merge did (routes, per-module counts once written), when there was one. */
  readonly lora: LoraReport | null;
  /** The adapter merged, for the model card. */
  readonly mergedAdapter: string | null;
  /**
   * For the model card, when frozen weights came from the base model rather than from the checkpoint (an int8/int4
   * H2O run, whose checkpoint holds them bitsandbytes-quantized): how many, from which base, and why.
   */
  readonly frozenFromBase?: string;
}

function isH2o(m: SourceModel): m is H2oExperiment {
  return "h2o" in m;
}

/** The same tensor, marked as computed (its bytes are not the checkpoint's own). */
function markComputed(t: TensorRef, by: string): TensorRef {
  return {
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    byteLength: t.byteLength,
    origin: t.origin,
    computed: by,
    chunks: (n, alloc) => t.chunks(n, alloc),
  };
}

/**
 * Open what `export` exports: the source, with a PEFT adapter merged when one is given, or with the LoRA weights
 * an H2O LLM Studio checkpoint holds merged into their base weights (its heads travel as the source's sidecars).
 */
export async function openForExport(p: OpenForExportParams): Promise<OpenedForExport> {
  const baseDir = p.base && "dir" in p.base ? p.base.dir : p.baseDir;
  const cacheOnly = p.noDownloads === true ? { ...(p.env ?? process.env), HF_HUB_OFFLINE: "1" } : p.env;
  let base = await openSource(p.source, { ...p, ...(baseDir === undefined ? {} : { baseDir }), ...(cacheOnly && !isHubSpec(p.source) ? { env: cacheOnly } : {}) });
  let adapter: PeftAdapter | null = null;
  let mergedAdapter: string | null = null;
  let frozenFromBase: string | undefined;
  let configFile: string | undefined;
  try {
    const baseRef: BaseRef | undefined = p.base ?? (baseDir === undefined ? undefined : { dir: baseDir });
    if (baseRef) base = await fillFromBase({ model: base, base: baseRef, usedBySource: isH2o(base) && "dir" in baseRef, ...(cacheOnly ? { env: cacheOnly } : {}), ...(p.fetch ? { fetch: p.fetch } : {}) });
    if (isH2o(base)) {
      const { h2o } = base;
      if (!base.baseModel && h2o.cfg.llmBackbone) base = { ...base, baseModel: h2o.cfg.llmBackbone };
      if (h2o.quantized) {
        const n = h2o.quantized.weights.length;
        frozenFromBase =
          `${n} frozen weight${n === 1 ? "" : "s"} come from the base model${base.baseModel ? ` ${base.baseModel}` : ""}, not from the experiment, ` +
          `whose checkpoint holds ${n === 1 ? "it" : "them"} bitsandbytes-quantized (${h2o.quantized.backboneDtype})`;
      }
      if (h2o.lora) {
        if (p.adapter) throw new TruecastError("USAGE", `${p.source} already holds LoRA weights; --adapter cannot add another`);
        const lora = h2o.lora;
        adapter = peftAdapterFromTensors({
          path: p.source,
          weightsPath: join(p.source, "checkpoint.pth"),
          config: lora.config,
          tensors: lora.tensors,
          close: async () => {},
        });
        configFile = join(p.source, H2O_ADAPTER_CONFIG);
        mergedAdapter = `LoRA weights of the H2O LLM Studio experiment ${basename(p.source)} (r=${lora.r}, alpha=${lora.alpha})`;
      }
    }
    if (p.adapter) {
      adapter = await openPeftAdapter(p.adapter);
      mergedAdapter = publicName(p.adapter);
      configFile = join(p.adapter, ADAPTER_CONFIG_NAME);
    }
    if (!adapter) return { model: base, lora: null, mergedAdapter: null, ...(frozenFromBase ? { frozenFromBase } : {}) };
    const policy = p.policy;
    const merged = await mergeLora({ base, adapter, outputDtype: (d) => outputDtype(d, policy), ...(configFile === undefined ? {} : { configFile }) });
    const touched = new Set(merged.report.routes.map((r) => r.target));
    const model: SourceModel = {
      ...merged.model,
      tensors: merged.model.tensors.map((t): TensorRef => (touched.has(t.name) ? markComputed(t, "LoRA merge") : t)),
      ...(base.baseModel ?? adapter.config.baseModelNameOrPath ? { baseModel: base.baseModel ?? adapter.config.baseModelNameOrPath ?? "" } : {}),
      ...(base.sidecars ? { sidecars: base.sidecars } : {}),
    };
    return { model, lora: merged.report, mergedAdapter, ...(frozenFromBase ? { frozenFromBase } : {}) };
  } catch (e) {
    await adapter?.close().catch(() => undefined);
    await base.close().catch(() => undefined);
    throw e;
  }
}
