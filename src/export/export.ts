import { copyFile, readFile, writeFile } from "node:fs/promises";
import { TruecastError } from "../errors.js";
import { summarize, type CastReport } from "../dtype/cast.js";
import { configName, type DType, type FloatDType } from "../dtype/table.js";
import { serializeIndex } from "../formats/safetensors/index-file.js";
import { openSource, type OpenSourceOptions } from "../sources/open.js";
import type { SourceModel } from "../sources/tensor-ref.js";
import { censusDtypes, configClaims, rewriteConfigDtype } from "./config.js";
import { StagedOutput } from "./output-dir.js";
import { planExport, type DtypePolicy, type ExportPlan } from "./plan.js";
import { verifyExport } from "./verify.js";
import { writeShard, type WrittenTensor } from "./write-shard.js";

export type ExportEvent =
  | { readonly type: "plan"; readonly plan: ExportPlan; readonly model: SourceModel }
  | { readonly type: "write"; readonly bytes: number; readonly total: number; readonly file: string }
  | { readonly type: "verify"; readonly bytes: number; readonly total: number }
  | { readonly type: "done" };

export interface ExportParams extends OpenSourceOptions {
  /** Path of the source; ignored when `model` is given. */
  readonly source: string;
  /** An already opened (or transformed) source, e.g. a LoRA merge. Closed by the export. */
  readonly model?: SourceModel;
  readonly out: string;
  /** Default `keep`. */
  readonly dtype?: DtypePolicy;
  /** Default 5 GB. */
  readonly maxShardSize?: number;
  readonly allowOverflow?: boolean;
  readonly force?: boolean;
  /** Extra files to write into the output (name → contents), e.g. the model card. They replace source files of the same name. */
  readonly extraFiles?: ReadonlyMap<string, string | Uint8Array>;
  readonly onEvent?: (e: ExportEvent) => void;
  readonly signal?: AbortSignal;
}

export interface ConversionSummary extends CastReport {
  readonly tensors: number;
}

export interface ExportReport {
  readonly source: { readonly path: string; readonly kind: string; readonly notes: readonly string[] };
  readonly out: string;
  readonly policy: DtypePolicy;
  /** The floating dtype holding most written bytes (config.json's value), or null. */
  readonly dtype: FloatDType | null;
  readonly mixedDtypes: boolean;
  readonly bytesByDtype: Readonly<Record<string, number>>;
  readonly sourceBytesByDtype: Readonly<Record<string, number>>;
  readonly shards: readonly { readonly file: string; readonly bytes: number; readonly tensors: number }[];
  readonly indexFile: string | null;
  /** Sum of tensor bytes. */
  readonly totalSize: number;
  readonly tensorCount: number;
  /** Tensors copied byte for byte, proven by hash after re-reading. */
  readonly bitExact: number;
  /** Per (from → to) pair. */
  readonly conversions: readonly ConversionSummary[];
  readonly config: null | { readonly before: Readonly<Record<string, unknown>>; readonly after: string | null };
  readonly files: readonly string[];
  readonly tensors: readonly WrittenTensor[];
  readonly verified: { readonly tensors: number; readonly bytes: number };
  readonly seconds: number;
}

function checkAbort(signal?: AbortSignal): void {
  if (signal?.aborted) throw new TruecastError("INTERNAL", "interrupted; nothing was written");
}

function record(m: ReadonlyMap<DType, number>): Record<string, number> {
  return Object.fromEntries(m);
}

/**
 * Export a source as a Hugging Face safetensors folder: plan, stage, stream every tensor (bit for bit unless a
 * conversion is asked for), write the index and the small files with config.json's dtype measured from the
 * output, re-read and verify, then move the folder into place. On any failure nothing is left at `out`.
 */
export async function exportModel(params: ExportParams): Promise<ExportReport> {
  const started = performance.now();
  const policy = params.dtype ?? "keep";
  const model = params.model ?? (await openSource(params.source, params));
  let staged: StagedOutput | null = null;
  try {
    const plan = planExport({ tensors: model.tensors, policy, ...(params.maxShardSize ? { maxShardSize: params.maxShardSize } : {}) });
    params.onEvent?.({ type: "plan", plan, model });
    staged = await StagedOutput.create({ out: params.out, force: params.force ?? false, protect: [model.path] });
    await staged.checkFreeSpace(plan.totalFileSize);

    const written: WrittenTensor[] = [];
    let before = 0;
    for (const shard of plan.shards) {
      checkAbort(params.signal);
      const base = before;
      written.push(
        ...(await writeShard({
          shard,
          path: staged.path(shard.fileName),
          allowOverflow: params.allowOverflow ?? false,
          onProgress: (p) => {
            checkAbort(params.signal);
            params.onEvent?.({ type: "write", bytes: base + p.bytes, total: plan.totalSize, file: shard.fileName });
          },
        })),
      );
      before += shard.dataSize;
    }
    const indexFile = plan.sharded ? "model.safetensors.index.json" : null;
    if (indexFile) {
      await writeFile(staged.path(indexFile), serializeIndex({ totalSize: plan.totalSize, weightMap: plan.weightMap }));
    }

    const census = censusDtypes(written.map((w) => ({ dtype: w.dtype, byteLength: w.byteLength })));
    const sourceCensus = censusDtypes(model.tensors);
    const files: string[] = [];
    let config: ExportReport["config"] = null;
    for (const [name, path] of model.files) {
      if (params.extraFiles?.has(name)) continue;
      if (name === "config.json") {
        const text = await readFile(path, "utf8");
        const claims = configClaims(text, path);
        const after = rewriteConfigDtype(text, census.dominant, path);
        await writeFile(staged.path(name), after);
        config = { before: Object.fromEntries(claims.map((c) => [c.key, c.value])), after: census.dominant ? configName(census.dominant) : null };
      } else {
        await copyFile(path, staged.path(name));
      }
      files.push(name);
    }
    for (const [name, contents] of params.extraFiles ?? []) {
      await writeFile(staged.path(name), contents);
      files.push(name);
    }

    checkAbort(params.signal);
    const verified = await verifyExport({
      dir: staged.staging,
      plan,
      written,
      onProgress: (bytes) => params.onEvent?.({ type: "verify", bytes, total: plan.totalSize }),
    });
    // config.json must state what the re-read tensors hold.
    if (config && config.after !== null && census.dominant) {
      const claims = configClaims(await readFile(staged.path("config.json"), "utf8"));
      if (claims.some((c) => c.dtype !== census.dominant)) {
        throw new TruecastError("VERIFY_FAILED", "config.json does not state the written dtype after writing");
      }
    }
    await staged.commit();
    params.onEvent?.({ type: "done" });

    const pairs = new Map<string, CastReport[]>();
    for (const w of written) {
      if (!w.cast) continue;
      const key = `${w.sourceDtype}>${w.dtype}`;
      pairs.set(key, [...(pairs.get(key) ?? []), w.cast]);
    }
    return {
      source: { path: model.path, kind: model.kind, notes: model.notes },
      out: staged.out,
      policy,
      dtype: census.dominant,
      mixedDtypes: census.mixed,
      bytesByDtype: record(census.bytesByDtype),
      sourceBytesByDtype: record(sourceCensus.bytesByDtype),
      shards: plan.shards.map((s) => ({ file: s.fileName, bytes: s.fileSize, tensors: s.tensors.length })),
      indexFile,
      totalSize: plan.totalSize,
      tensorCount: written.length,
      bitExact: written.filter((w) => !w.cast).length,
      conversions: [...pairs.values()].map((reports) => ({ ...summarize(reports), tensors: reports.length })),
      config,
      files,
      tensors: written,
      verified: { tensors: verified.tensorsVerified, bytes: verified.bytesVerified },
      seconds: (performance.now() - started) / 1000,
    };
  } catch (e) {
    await staged?.discard();
    throw e;
  } finally {
    await model.close();
  }
}
