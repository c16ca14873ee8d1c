/**
 * The rules a sharded folder's index and its shards must satisfy, whatever the weight format
 * (`model.safetensors.index.json` or `pytorch_model.bin.index.json`): checked before reading any shard, then again
 * once every shard's tensor names are known.
 */
import { TruecastError } from "../errors.js";
import type { SafetensorsIndex } from "../formats/safetensors/index-file.js";

function list(names: readonly string[]): string {
  const shown = names.slice(0, 3).join(", ");
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown;
}

/** Every shard the index names is a file in the folder, and every weight file in the folder is named by the index. */
export function checkShardFiles(params: {
  indexPath: string;
  indexName: string;
  index: SafetensorsIndex;
  /** The weight files (and the index) found in the folder. */
  present: readonly string[];
  /** Is `name` a file at the top of the folder (its store's listing)? */
  isFile: (name: string) => boolean;
}): void {
  const { indexPath, index } = params;
  for (const shard of index.shards) {
    if (!params.isFile(shard)) {
      const names = [...index.weightMap].filter(([, s]) => s === shard).map(([n]) => n);
      throw new TruecastError(
        "INDEX_MISSING_SHARD",
        `${indexPath}: names shard ${shard} (for ${names.length} tensors, e.g. "${names[0] ?? ""}"), which is not in ` +
          "the folder; download or copy it too",
      );
    }
  }
  const listed = new Set(index.shards); // not shards.includes per file: 100k shards made that quadratic (minutes)
  const unlisted = params.present.filter((n) => n !== params.indexName && !listed.has(n));
  if (unlisted.length > 0) {
    throw new TruecastError(
      "INDEX_MISMATCH",
      `${indexPath}: does not name ${list(unlisted)}, which ${unlisted.length === 1 ? "is" : "are"} in the folder; ` +
        "a stale or foreign weight file would be ignored silently: move it out of the folder",
    );
  }
}

/** Each tensor is in exactly one shard, the one the index names, and every tensor the index lists exists. */
export function checkShardContents(params: {
  dir: string;
  indexPath: string;
  index: SafetensorsIndex;
  /** In index shard order: each shard's tensor names. */
  shards: readonly { shard: string; names: readonly string[] }[];
}): void {
  const { indexPath, index } = params;
  const owner = new Map<string, string>();
  for (const { shard, names } of params.shards) {
    for (const name of names) {
      const first = owner.get(name);
      if (first !== undefined) {
        throw new TruecastError("DUPLICATE_TENSOR", `${params.dir}: tensor "${name}" is in both ${first} and ${shard}; keep one copy and fix the index`);
      }
      owner.set(name, shard);
    }
  }
  // Only once no tensor is in two shards: a duplicate is the better diagnosis than the index disagreeing.
  for (const [name, shard] of owner) {
    const listed = index.weightMap.get(name);
    if (listed !== shard) {
      throw new TruecastError(
        "INDEX_MISMATCH",
        listed === undefined
          ? `${indexPath}: does not list tensor "${name}", which is in ${shard}`
          : `${indexPath}: says tensor "${name}" is in ${listed}, but it is in ${shard}`,
      );
    }
  }
  for (const [name, shard] of index.weightMap) {
    if (!owner.has(name)) {
      throw new TruecastError(
        "INDEX_MISSING_TENSOR",
        `${indexPath}: lists tensor "${name}" in ${shard}, but ${shard} has no such tensor; the shard or the index is ` +
          "from another version of the model",
      );
    }
  }
}
