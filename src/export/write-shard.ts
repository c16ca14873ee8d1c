import { open, type FileHandle } from "node:fs/promises";
import { TruecastError } from "../errors.js";
import { createCaster, type CastReport } from "../dtype/cast.js";
import { isFloatDType, type DType } from "../dtype/table.js";
import { prefetch } from "../util/prefetch.js";
import type { PlannedShard } from "./plan.js";
import type { StreamHasher } from "./stream-hasher.js";

/** Bytes read from a source per step: large enough for sequential I/O, small enough to keep memory flat. */
export const CHUNK_SIZE = 16 * 1024 * 1024;
/** Chunks read ahead of the one being written. Peak buffered bytes ≈ (READ_AHEAD + 2) × CHUNK_SIZE. */
export const READ_AHEAD = 2;
/** Small tensors are gathered into one write of at most this many bytes instead of one syscall each. */
export const COALESCE_SIZE = 4 * 1024 * 1024;

export interface WrittenTensor {
  readonly name: string;
  readonly shard: string;
  readonly sourceDtype: DType;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly byteLength: number;
  /** sha256 of the bytes written; for a kept tensor this is also the hash of the source bytes, taken while copying. */
  readonly sha256: string;
  /** Present when the tensor was converted. */
  readonly cast?: CastReport;
  /** What computed the bytes, when they are not the source's own (a LoRA merge). */
  readonly computed?: string;
}

export interface WriteProgress {
  /** Bytes of tensor data written so far in this shard. */
  readonly bytes: number;
  readonly tensor: string;
}

/** Sequential writer with one write in flight and small writes coalesced. */
class ShardSink {
  private position = 0;
  private pending: Promise<unknown> | null = null;
  private buffer: Buffer = Buffer.allocUnsafe(COALESCE_SIZE);
  private filled = 0;
  constructor(private readonly fh: FileHandle) {}

  async write(bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength < COALESCE_SIZE / 4) {
      if (this.filled + bytes.byteLength > COALESCE_SIZE) await this.flush();
      this.buffer.set(bytes, this.filled);
      this.filled += bytes.byteLength;
      return;
    }
    await this.flush();
    await this.issue(bytes);
  }

  async flush(): Promise<void> {
    if (this.filled === 0) return;
    const out = this.buffer.subarray(0, this.filled);
    await this.issue(out);
    // The buffer now belongs to the write in flight.
    this.buffer = Buffer.allocUnsafe(COALESCE_SIZE);
    this.filled = 0;
  }

  private async issue(bytes: Uint8Array): Promise<void> {
    if (this.pending) await this.pending;
    const at = this.position;
    this.position += bytes.byteLength;
    this.pending = writeAll(this.fh, bytes, at);
  }

  async close(): Promise<number> {
    await this.flush();
    if (this.pending) await this.pending;
    this.pending = null;
    return this.position;
  }
}

async function writeAll(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.byteLength - done, position + done);
    if (bytesWritten <= 0) throw new TruecastError("UNREADABLE", "the disk accepted no bytes; is it full?");
    done += bytesWritten;
  }
}

/**
 * Write one planned shard to `path`: header first, then each tensor streamed from its source through a bounded
 * buffer, copied byte for byte when its dtype is kept and converted chunk by chunk (with a loss report) when not.
 */
export async function writeShard(params: {
  shard: PlannedShard;
  path: string;
  allowOverflow: boolean;
  /** Hashes the bytes written, tensor by tensor, on another thread. */
  hasher: StreamHasher;
  onProgress?: (p: WriteProgress) => void;
}): Promise<WrittenTensor[]> {
  const { shard } = params;
  const fh = await open(params.path, "wx");
  const written: WrittenTensor[] = [];
  let bytes = 0;
  try {
    const sink = new ShardSink(fh);
    await sink.write(shard.header);
    for (const t of shard.tensors) {
      const { ref, outDtype, entry } = t;
      const stream = params.hasher.open();
      const converting = outDtype !== ref.dtype;
      if (converting && !(isFloatDType(ref.dtype) && isFloatDType(outDtype))) {
        throw new TruecastError("UNSUPPORTED_DTYPE", `tensor "${ref.name}": cannot convert ${ref.dtype} to ${outDtype}`);
      }
      const caster = converting && isFloatDType(ref.dtype) && isFloatDType(outDtype) ? createCaster(ref.dtype, outDtype) : null;
      let tensorBytes = 0;
      for await (const chunk of prefetch(ref.chunks(CHUNK_SIZE), READ_AHEAD)) {
        const out = caster ? caster.cast(chunk) : chunk;
        await params.hasher.update(stream, out);
        await sink.write(out);
        tensorBytes += out.byteLength;
        bytes += out.byteLength;
        params.onProgress?.({ bytes, tensor: ref.name });
      }
      const expected = entry.end - entry.begin;
      if (tensorBytes !== expected) {
        throw new TruecastError(
          "VERIFY_FAILED",
          `tensor "${ref.name}" from ${ref.origin} gave ${tensorBytes} bytes, but its shape and dtype need ${expected}; the source changed or is damaged`,
        );
      }
      const cast = caster?.report();
      if (cast && cast.toInfinity > 0 && !params.allowOverflow) {
        throw new TruecastError(
          "OVERFLOW",
          `converting tensor "${ref.name}" from ${ref.dtype} to ${outDtype} would turn ${cast.toInfinity} finite value${cast.toInfinity === 1 ? "" : "s"} into infinity; keep its dtype (--dtype keep) or pass --allow-overflow`,
        );
      }
      written.push({
        name: ref.name,
        shard: shard.fileName,
        sourceDtype: ref.dtype,
        dtype: outDtype,
        shape: ref.shape,
        byteLength: tensorBytes,
        sha256: await params.hasher.digest(stream),
        ...(cast ? { cast } : {}),
        ...(ref.computed ? { computed: ref.computed } : {}),
      });
    }
    const size = await sink.close();
    if (size !== shard.fileSize) {
      throw new TruecastError("INTERNAL", `${shard.fileName}: wrote ${size} bytes but planned ${shard.fileSize}`);
    }
  } finally {
    await fh.close();
  }
  return written;
}
