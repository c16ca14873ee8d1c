/**
 * What an export wrote, tensor by tensor, held as columns beside each shard's plan (which already holds names,
 * dtypes, shapes and offsets): a digest per tensor (8 bytes for XXH3-64) and the loss report of converted ones.
 * A million tensors cost about ten bytes each here; {@link WrittenTensor} objects are made only when asked for,
 * one at a time (the report streams them).
 */
import type { CastReport } from "../dtype/cast.js";
import type { DType } from "../dtype/table.js";
import { lazyArray, lazyConcat } from "../util/lazy-array.js";
import type { PassFile } from "./hash-protocol.js";
import type { PlannedShard } from "./plan.js";

export interface WrittenTensor {
  readonly name: string;
  readonly shard: string;
  readonly sourceDtype: DType;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly byteLength: number;
  /**
   * Digest of the bytes written (see util/digest.ts), taken while copying; for a kept tensor it is the digest of
   * the source bytes, and verification re-reads the output and requires the same digest.
   */
  readonly digest: string;
  /** Present when the tensor was converted. */
  readonly cast?: CastReport;
  /** What computed the bytes, when they are not the source's own (a LoRA merge). */
  readonly computed?: string;
}

const XXH3 = "xxh3-64:";

/** One digest per row: XXH3-64 digests as 64-bit numbers, any other kind as its string. */
class DigestColumn {
  private readonly xxh3: BigUint64Array;
  private readonly other: (string | undefined)[] = [];
  constructor(count: number) {
    this.xxh3 = new BigUint64Array(count);
  }

  set(k: number, digest: string): void {
    if (digest.startsWith(XXH3) && digest.length === XXH3.length + 16) this.xxh3[k] = BigInt(`0x${digest.slice(XXH3.length)}`);
    else this.other[k] = digest;
  }

  get(k: number): string {
    return this.other[k] ?? `${XXH3}${(this.xxh3[k] ?? 0n).toString(16).padStart(16, "0")}`;
  }
}

/** The tensors of one written shard, in file order. */
export class WrittenShard {
  private readonly digests: DigestColumn;
  private readonly casts: (CastReport | undefined)[] = [];
  /** Rows written so far. */
  count = 0;
  /**
   * The file as fstat saw it on the writer's handle after its last byte (null until then, and for a shard an earlier
   * run wrote): a later read that finds another file, size, mtime or ctime finds a file changed since.
   */
  file: PassFile | null = null;
  constructor(readonly shard: PlannedShard) {
    this.digests = new DigestColumn(shard.table.count);
  }

  /** Records row `k` (the next one). */
  add(k: number, digest: string, cast: CastReport | undefined): void {
    this.digests.set(k, digest);
    if (cast) this.casts[k] = cast;
    this.count = k + 1;
  }

  /** Row `k` as an object. */
  at(k: number): WrittenTensor {
    const { table, sources, fileName } = this.shard;
    const ref = sources[k];
    const cast = this.casts[k];
    return {
      name: table.name(k),
      shard: fileName,
      sourceDtype: ref?.dtype ?? table.dtype(k),
      dtype: table.dtype(k),
      shape: table.shape(k),
      byteLength: table.end(k) - table.begin(k),
      digest: this.digests.get(k),
      ...(cast ? { cast } : {}),
      ...(ref?.computed ? { computed: ref.computed } : {}),
    };
  }

  /** The rows written, as objects made when read. */
  list(): readonly WrittenTensor[] {
    return lazyArray(this.count, (k) => this.at(k));
  }

  digest(k: number): string {
    return this.digests.get(k);
  }

  cast(k: number): CastReport | undefined {
    return this.casts[k];
  }

  computed(k: number): boolean {
    return this.shard.sources[k]?.computed !== undefined;
  }
}

/** Every written shard's tensors, in write order. */
export class WrittenTensors {
  readonly shards: WrittenShard[] = [];

  get count(): number {
    return this.shards.reduce((n, s) => n + s.count, 0);
  }

  /** The tensors as an array whose entries are made when read (one at a time, never all kept). */
  list(): readonly WrittenTensor[] {
    return lazyConcat(this.shards.map((s) => s.list()));
  }

  /** Output dtype and bytes of each tensor of the first `shardCount` shards (for the dtype census). */
  *sizes(shardCount = this.shards.length): Generator<{ dtype: DType; byteLength: number }> {
    for (const s of this.shards.slice(0, shardCount)) {
      const { table } = s.shard;
      for (let k = 0; k < s.count; k++) yield { dtype: table.dtype(k), byteLength: table.end(k) - table.begin(k) };
    }
  }

  /** The converted tensors' source dtype, dtype and loss report. */
  *casts(): Generator<{ sourceDtype: DType; dtype: DType; cast: CastReport }> {
    for (const s of this.shards) {
      for (let k = 0; k < s.count; k++) {
        const cast = s.cast(k);
        if (cast) yield { sourceDtype: s.shard.sources[k]?.dtype ?? cast.from, dtype: s.shard.table.dtype(k), cast };
      }
    }
  }

  /** Tensors copied byte for byte (neither converted nor computed), and computed ones. */
  tally(): { bitExact: number; computed: number } {
    let bitExact = 0;
    let computed = 0;
    for (const s of this.shards) {
      for (let k = 0; k < s.count; k++) {
        if (s.computed(k)) computed++;
        else if (!s.cast(k)) bitExact++;
      }
    }
    return { bitExact, computed };
  }
}
