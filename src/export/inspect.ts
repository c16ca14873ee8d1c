import { stat } from "node:fs/promises";
import { CONFIG_FILE, readSideFile } from "../formats/side-file.js";
import { basename, dirname, join } from "node:path";
import { configName, dtypeBits, type DType, type FloatDType } from "../dtype/table.js";
import { readSafetensorsHeader } from "../formats/safetensors/read.js";
import { openSource, type OpenSourceOptions } from "../sources/open.js";
import type { SourceModel, TensorRef } from "../sources/tensor-ref.js";
import { fileMetadataOf } from "../sources/safetensors.js";
import { lazyArray } from "../util/lazy-array.js";
import { censusDtypes, configClaims } from "./config.js";

export interface InspectReport {
  readonly path: string;
  readonly kind: string;
  readonly tensorCount: number;
  readonly parameters: number;
  readonly totalSize: number;
  readonly bytesByDtype: Readonly<Record<string, number>>;
  /** The floating dtype holding most bytes. */
  readonly dtype: FloatDType | null;
  readonly mixedDtypes: boolean;
  /** Weight files and what they hold, in order. */
  readonly shards: readonly { readonly file: string; readonly tensors: number; readonly bytes: number; readonly metadata: Readonly<Record<string, string>> | null }[];
  /** What config.json claims, and whether each claim matches the tensors. Null without a config.json. */
  readonly config: null | { readonly claims: readonly { key: string; value: unknown; matches: boolean }[]; readonly matches: boolean };
  readonly files: readonly string[];
  readonly notes: readonly string[];
  readonly tensors: readonly { readonly name: string; readonly dtype: DType; readonly shape: readonly number[]; readonly bytes: number; readonly file: string }[];
}

/** Elements in `byteLength` bytes of `dtype` (sub-byte dtypes count whole bits). */
export function elementCount(dtype: DType, byteLength: number): number {
  return (byteLength * 8) / dtypeBits(dtype);
}

/**
 * Open the checkpoint at `path` (anything `export` accepts), describe it, and close it:
 * `const report = await inspect("./my-finetune")`.
 */
export async function inspect(path: string, options: OpenSourceOptions = {}): Promise<InspectReport> {
  const model = await openSource(path, options);
  try {
    return await inspectSource(model);
  } finally {
    await model.close();
  }
}

/** Describe an opened source: what it holds, and whether its config.json tells the truth about it. */
export async function inspectSource(model: SourceModel): Promise<InspectReport> {
  const census = censusDtypes(model.tensors);
  const shardOrder: string[] = [];
  const shardStats = new Map<string, { tensors: number; bytes: number; first: TensorRef }>();
  let parameters = 0;
  let totalSize = 0;
  for (const t of model.tensors) {
    const origin = t.origin;
    const byteLength = t.byteLength;
    let s = shardStats.get(origin);
    if (!s) {
      s = { tensors: 0, bytes: 0, first: t };
      shardStats.set(origin, s);
      shardOrder.push(origin);
    }
    s.tensors++;
    s.bytes += byteLength;
    parameters += elementCount(t.dtype, byteLength);
    totalSize += byteLength;
  }
  const known = model.shardMetadata;
  const folder = known !== undefined ? "" : (await stat(model.path)).isDirectory() ? model.path : dirname(model.path);
  const shards = await Promise.all(
    shardOrder.map(async (origin) => {
      const s = shardStats.get(origin) ?? { tensors: 0, bytes: 0, first: undefined };
      let metadata: Record<string, string> | null = null;
      const fromFile = s.first ? fileMetadataOf(s.first) : undefined;
      if (known?.has(basename(origin))) {
        const m = known.get(basename(origin));
        metadata = m === null || m === undefined ? null : { ...m };
      }
      else if (fromFile !== undefined) metadata = fromFile === null ? null : { ...fromFile };
      else if (known === undefined && origin.endsWith(".safetensors")) {
        const file = origin.includes("/") ? origin : join(folder, basename(origin));
        metadata = (await readSafetensorsHeader(file)).metadata;
      }
      return { file: basename(origin), tensors: s.tensors, bytes: s.bytes, metadata };
    }),
  );
  let config: InspectReport["config"] = null;
  const configPath = model.files.get("config.json");
  if (configPath) {
    const claims = configClaims(await readSideFile(configPath, CONFIG_FILE), configPath).map((c) => ({
      key: c.key,
      value: c.value,
      matches: census.dominant !== null && c.dtype === census.dominant,
    }));
    config = { claims, matches: claims.length > 0 && claims.every((c) => c.matches) };
  }
  return {
    path: model.path,
    kind: model.kind,
    tensorCount: model.tensors.length,
    parameters,
    totalSize,
    bytesByDtype: Object.fromEntries(census.bytesByDtype),
    dtype: census.dominant,
    mixedDtypes: census.mixed,
    shards,
    config,
    files: [...model.files.keys()],
    notes: model.notes,
    // Made when read (the JSON report streams them): a million tensors never become a million objects at once.
    tensors: lazyArray(model.tensors.length, (i) => {
      const t = model.tensors[i] as TensorRef;
      return { name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.byteLength, file: basename(t.origin) };
    }),
  };
}

/** "bfloat16" for a dtype, for messages. */
export function dtypeLabel(d: DType | null): string {
  if (d === null) return "none";
  return configName(d) ?? d;
}
