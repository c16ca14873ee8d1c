import { TruecastError } from "../errors.js";
import { dtypeSize, isFloatDType, type DType, type FloatDType } from "../dtype/table.js";
import type { SafetensorsEntry } from "../formats/safetensors/header.js";
import { headerBytes, layoutTable, type HeaderBytes } from "../formats/safetensors/header-writer.js";
import { NameIndex, NameRefs, type NameColumn } from "../formats/safetensors/name-table.js";
import type { TensorTable } from "../formats/safetensors/tensor-table.js";
import type { TensorRef } from "../sources/tensor-ref.js";
import { lazyArray } from "../util/lazy-array.js";

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
  /** What is written, in file order, as columns: names (pointing at the sources' where they keep them), output dtypes, shapes, offsets. */
  readonly table: TensorTable<NameColumn>;
  /** Row `k` of {@link table} comes from `sources[k]`. */
  readonly sources: readonly TensorRef[];
  /** Bytes of the 8-byte prefix and the padded JSON header. */
  readonly headerSize: number;
  /** The header, exactly as it will be written, in chunks of about 1 MB. */
  headerChunks(): Iterable<Uint8Array>;
  /** The whole header in one buffer (made on each use: for small shards and tests). */
  readonly header: Uint8Array;
  /** In file order, as objects (made on each use: for small shards and tests; writers use the table). */
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
  /** Tensor name → shard file name (made on each use). */
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
  /** One shard under this file name, whatever the size (a sidecar such as `classification_head.safetensors`). */
  fileName?: string;
}): ExportPlan {
  const max = params.fileName !== undefined ? Infinity : (params.maxShardSize ?? DEFAULT_MAX_SHARD_SIZE);
  const tensors = params.tensors;
  // Each group: the indexes of the source tensors of one shard.
  const groups: number[][] = [];
  let current: number[] = [];
  let currentSize = 0;
  for (let i = 0; i < tensors.length; i++) {
    const byteLength = outputLength(tensors[i] as TensorRef, params.policy);
    if (byteLength > max) {
      groups.push([i]);
      continue;
    }
    if (current.length > 0 && currentSize + byteLength > max) {
      groups.push(current);
      current = [];
      currentSize = 0;
    }
    current.push(i);
    currentSize += byteLength;
  }
  if (current.length > 0 || groups.length === 0) groups.push(current);
  checkUnique(tensors);

  let totalSize = 0;
  let totalFileSize = 0;
  const shards = groups.map((group, i): PlannedShard => {
    const fileName = params.fileName ?? shardFileName(i, groups.length);
    const shard = planShard(fileName, group.length === tensors.length ? tensors : lazyArray(group.length, (j) => tensors[group[j] as number] as TensorRef), params.policy);
    totalSize += shard.dataSize;
    totalFileSize += shard.fileSize;
    return shard;
  });
  return new Plan(shards, totalSize, totalFileSize);
}

/** Bytes a tensor takes once written under `policy`. */
function outputLength(ref: TensorRef, policy: DtypePolicy): number {
  const outDtype = outputDtype(ref.dtype, policy);
  return outDtype === ref.dtype ? ref.byteLength : (ref.byteLength / dtypeSize(ref.dtype)) * dtypeSize(outDtype);
}

/**
 * Refuses a second tensor of one name, in source order, naming where it came from (names held as bytes, not a Set:
 * pointed at where the source keeps them, copied otherwise).
 */
function checkUnique(tensors: readonly TensorRef[]): void {
  const names = new NameRefs(tensors.length);
  const seen = new NameIndex(names, tensors.length);
  for (const ref of tensors) {
    const at = ref.nameRef;
    if (seen.add(at ? names.addRef(at.names, at.row) : names.addString(ref.name)) >= 0) {
      throw new TruecastError("DUPLICATE_TENSOR", `tensor "${ref.name}" appears twice in ${ref.origin}; a model cannot hold two tensors of one name`);
    }
  }
}

function planShard(fileName: string, sources: readonly TensorRef[], policy: DtypePolicy): PlannedShard {
  const { table, from } = layoutTable(sources.length, (i) => {
    const ref = sources[i] as TensorRef;
    return { name: ref.nameRef ?? ref.name, dtype: outputDtype(ref.dtype, policy), shape: ref.shape, byteLength: outputLength(ref, policy) };
  });
  // Read through to the sources (no array of a million references; a source may make its views when read).
  const ordered = lazyArray(from.length, (k) => sources[from[k] as number] as TensorRef);
  const header = headerBytes(table, { ...SHARD_METADATA });
  const dataSize = table.count > 0 ? table.end(table.count - 1) : 0;
  return new Shard(fileName, table, ordered, header, dataSize);
}

class Shard implements PlannedShard {
  readonly headerSize: number;
  readonly fileSize: number;
  constructor(
    readonly fileName: string,
    readonly table: TensorTable<NameColumn>,
    readonly sources: readonly TensorRef[],
    private readonly bytes: HeaderBytes,
    readonly dataSize: number,
  ) {
    this.headerSize = bytes.size;
    this.fileSize = bytes.size + dataSize;
  }

  headerChunks(): Iterable<Uint8Array> {
    return this.bytes.chunks();
  }

  get header(): Uint8Array {
    return Buffer.concat([...this.bytes.chunks()]);
  }

  get tensors(): readonly PlannedTensor[] {
    return this.sources.map((ref, k) => ({ ref, outDtype: this.table.dtype(k), entry: this.table.entry(k) }));
  }
}

class Plan implements ExportPlan {
  readonly sharded: boolean;
  constructor(
    readonly shards: readonly PlannedShard[],
    readonly totalSize: number,
    readonly totalFileSize: number,
  ) {
    this.sharded = shards.length > 1;
  }

  get weightMap(): ReadonlyMap<string, string> {
    const map = new Map<string, string>();
    for (const s of this.shards) for (let k = 0; k < s.table.count; k++) map.set(s.table.name(k), s.fileName);
    return map;
  }
}
