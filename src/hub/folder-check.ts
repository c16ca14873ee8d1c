/**
 * The check a folder passes before it is published: every safetensors header valid (strict rules), the index
 * consistent with the shards, and config.json's dtype keys equal to the dominant floating dtype by bytes.
 * Kept on its own so that it can be swapped for the export inspector.
 */
import { CONFIG_FILE, parseSideJson, readSideFile } from "../formats/side-file.js";
import { configName, isFloatDType, type DType, type FloatDType, parseFloatDType } from "../dtype/table.js";
import { readSafetensorsHeader, type SafetensorsFileHeader } from "../formats/safetensors/read.js";
import { readIndexFile, SAFETENSORS_INDEX_NAME } from "../formats/safetensors/index-file.js";
import type { LocalFile } from "./folder-files.js";

export interface FolderCheck {
  /** One line per problem; empty when the folder may be published. */
  problems: string[];
  /** Parsed headers of the safetensors files that passed, by path in the repo. */
  headers: Map<string, SafetensorsFileHeader>;
  /** The floating dtype holding most bytes, or null. */
  dtype: FloatDType | null;
}

const CONFIG_DTYPE_KEYS = ["torch_dtype", "dtype"] as const;

/** The Hub refuses files over 50 GB (decimal); it recommends staying under 20 GB. */
export const HUB_MAX_FILE_BYTES = 50_000_000_000;

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function checkFolder(files: readonly LocalFile[]): Promise<FolderCheck> {
  const problems: string[] = [];
  const headers = new Map<string, SafetensorsFileHeader>();
  const bytesByDtype = new Map<DType, number>();
  for (const f of files) {
    if (f.size > HUB_MAX_FILE_BYTES) problems.push(`${f.localPath}: ${f.size} bytes is over the Hub's limit of 50 GB per file; export with a smaller --max-shard-size`);
    if (!f.pathInRepo.endsWith(".safetensors")) continue;
    try {
      const h = await readSafetensorsHeader(f.localPath);
      headers.set(f.pathInRepo, h);
      for (const e of h.entries) bytesByDtype.set(e.dtype, (bytesByDtype.get(e.dtype) ?? 0) + (e.end - e.begin));
    } catch (e) {
      problems.push(message(e));
    }
  }
  let dtype: FloatDType | null = null;
  let best = -1;
  for (const [d, n] of bytesByDtype) if (isFloatDType(d) && n > best) [dtype, best] = [d, n];

  const index = files.find((f) => f.pathInRepo === SAFETENSORS_INDEX_NAME);
  if (index) {
    try {
      const idx = await readIndexFile(index.localPath);
      for (const shard of idx.shards) {
        const h = headers.get(shard);
        if (!h) {
          if (!files.some((f) => f.pathInRepo === shard)) problems.push(`${index.localPath}: names shard ${shard}, which is not in the folder`);
          continue;
        }
        for (const e of h.entries) {
          const where = idx.weightMap.get(e.name);
          if (where !== shard) problems.push(`${index.localPath}: tensor ${e.name} is in ${shard} but the index says ${where ?? "nothing"}`);
        }
      }
      for (const [name, shard] of idx.weightMap) {
        const h = headers.get(shard);
        if (h && !h.entries.some((e) => e.name === name)) problems.push(`${index.localPath}: tensor ${name} is not in ${shard}`);
      }
      const tensorBytes = idx.shards.reduce((s, shard) => s + (headers.get(shard)?.entries.reduce((t, e) => t + (e.end - e.begin), 0) ?? 0), 0);
      if (idx.totalSize !== null && idx.shards.every((sh) => headers.has(sh)) && idx.totalSize !== tensorBytes) {
        problems.push(`${index.localPath}: metadata.total_size is ${idx.totalSize} but the shards hold ${tensorBytes} bytes of tensors`);
      }
    } catch (e) {
      problems.push(message(e));
    }
  }

  const config = files.find((f) => f.pathInRepo === "config.json");
  if (config) {
    try {
      const json = parseSideJson(await readSideFile(config.localPath, CONFIG_FILE), config.localPath, CONFIG_FILE) as Record<string, unknown>;
      for (const key of CONFIG_DTYPE_KEYS) {
        const claimed = json[key];
        if (typeof claimed !== "string" || dtype === null) continue;
        if (parseFloatDType(claimed) !== dtype) {
          problems.push(`${config.localPath}: "${key}" says ${claimed} but the tensors are mostly ${configName(dtype) ?? dtype}; fix config.json (truecast export writes it from the tensors)`);
        }
      }
    } catch (e) {
      problems.push(message(e));
    }
  }
  return { problems, headers, dtype };
}
