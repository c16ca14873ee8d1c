import { TruecastError } from "../errors.js";
import { dtypeSize, isFloatDType, type DType, type FloatDType } from "../dtype/table.js";
import { layoutTensors, serializeHeader, type SafetensorsEntry } from "../formats/safetensors/header.js";
import type { TensorRef } from "../sources/tensor-ref.js";

/** `keep` copies every tensor as it is; a float dtype converts every floating tensor (F16, BF16, F32, F64) to it. */
export type DtypePolicy = "keep" | FloatDType;

/** The default `max_shard_size` of transformers 4.x and huggingface_hub. */
export const DEFAULT_MAX_SHARD_SIZE = 5_000_000_000;

/** Every shard's metadata, as transformers writes it. */
export const SHARD_METADATA: Readonly<Record<string, string>> = { format: "pt" };

export interface PlannedTensor {
  readonly ref: TensorRef;
  /** The dtype written: the source's, unless the policy converts it. */
  readonly outDtype: DType;
  /** Where it lands in its shard (offsets relative to the data buffer). */
  readonly entry: SafetensorsEntry;
}

export interface PlannedShard {
  readonly fileName: string;
  /** The 8-byte prefix and the padded JSON header, exactly as it will be written. */
  readonly header: Uint8Array;
  /** In file order. */
  readonly tensors: readonly PlannedTensor[];
  /** Header plus data: the file's exact size. */
  readonly fileSize: number;
  /** Tensor bytes only. */
  readonly dataSize: number;
}

export interface ExportPlan {
  readonly shards: readonly PlannedShard[];
  /** Sum of tensor bytes, headers excluded (the index's `total_size`). */
  readonly totalSize: number;
  /** Sum of shard file sizes. */
  readonly totalFileSize: number;
  /** Tensor name → shard file name. */
  readonly weightMap: ReadonlyMap<string, string>;
  /** Whether an index file is written (more than one shard). */
  readonly sharded: boolean;
}

/** The dtype a tensor of `source` dtype is written in under `policy` (non-floating tensors always keep theirs). */
export function outputDtype(source: DType, policy: DtypePolicy): DType {
  return policy !== "keep" && isFloatDType(source) ? policy : source;
}

/** `model-00001-of-00005.safetensors`, or `model.safetensors` for a single shard. */
export function shardFileName(index: number, count: number): string {
  if (count === 1) return "model.safetensors";
  const pad = (n: number) => String(n).padStart(5, "0");
  return `model-${pad(index + 1)}-of-${pad(count)}.safetensors`;
}

interface Sized {
  ref: TensorRef;
  outDtype: DType;
  byteLength: number;
}

/**
 * Split tensors into shards the way huggingface_hub does: in source order, a new shard when the next tensor would
 * push the current one past `maxShardSize`; a tensor larger than the limit gets a shard of its own.
 * Within a shard, tensors are laid out as the reference writer does (largest alignment first, then by name).
 */
export function planExport(params: {
  tensors: readonly TensorRef[];
  policy: DtypePolicy;
  /** Bytes of tensor data per shard, decimal; default 5 GB. */
  maxShardSize?: number;
}): ExportPlan {
  const max = params.maxShardSize ?? DEFAULT_MAX_SHARD_SIZE;
  const seen = new Set<string>();
  const groups: Sized[][] = [];
  let current: Sized[] = [];
  let currentSize = 0;
  for (const ref of params.tensors) {
    if (seen.has(ref.name)) {
      throw new TruecastError("DUPLICATE_TENSOR", `tensor "${ref.name}" appears twice in ${ref.origin}; a model cannot hold two tensors of one name`);
    }
    seen.add(ref.name);
    const outDtype = outputDtype(ref.dtype, params.policy);
    const byteLength = outDtype === ref.dtype ? ref.byteLength : (ref.byteLength / dtypeSize(ref.dtype)) * dtypeSize(outDtype);
    const item = { ref, outDtype, byteLength };
    if (byteLength > max) {
      groups.push([item]);
      continue;
    }
    if (current.length > 0 && currentSize + byteLength > max) {
      groups.push(current);
      current = [];
      currentSize = 0;
    }
    current.push(item);
    currentSize += byteLength;
  }
  if (current.length > 0 || groups.length === 0) groups.push(current);

  const weightMap = new Map<string, string>();
  let totalSize = 0;
  let totalFileSize = 0;
  const shards = groups.map((group, i): PlannedShard => {
    const fileName = shardFileName(i, groups.length);
    const byName = new Map(group.map((g) => [g.ref.name, g]));
    const entries = layoutTensors(group.map((g) => ({ name: g.ref.name, dtype: g.outDtype, shape: [...g.ref.shape], byteLength: g.byteLength })));
    const header = serializeHeader(entries, { ...SHARD_METADATA });
    const tensors = entries.map((entry): PlannedTensor => {
      const g = byName.get(entry.name);
      if (!g) throw new TruecastError("INTERNAL", `layout lost tensor "${entry.name}"`);
      weightMap.set(entry.name, fileName);
      return { ref: g.ref, outDtype: g.outDtype, entry };
    });
    const dataSize = group.reduce((s, g) => s + g.byteLength, 0);
    totalSize += dataSize;
    totalFileSize += header.byteLength + dataSize;
    return { fileName, header, tensors, fileSize: header.byteLength + dataSize, dataSize };
  });
  return { shards, totalSize, totalFileSize, weightMap, sharded: shards.length > 1 };
}
