import { open, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { TruecastError } from "../errors.js";
import { isFloatDType } from "../dtype/table.js";
import { createDigest } from "../util/digest.js";
import { prefetch } from "../util/prefetch.js";
import { writeAll } from "../util/write-all.js";
import { BufferPool } from "./buffer-pool.js";
import { castStream, type CastPool } from "./cast-pool.js";
import type { PlannedShard } from "./plan.js";
import { WrittenShard } from "./written.js";

/** Bytes read from a source per step: large enough for sequential I/O, small enough to keep memory flat. */
export const CHUNK_SIZE = 8 * 1024 * 1024;
/** Chunks read ahead of the one being written. Buffers in use ≈ READ_AHEAD + 3 chunks. */
export const READ_AHEAD = 2;
/** Small tensors are gathered into one write of at most this many bytes instead of one syscall each. */
export const COALESCE_SIZE = 4 * 1024 * 1024;

export { WRITE_PIECE } from "../util/write-all.js";
export type { WrittenTensor } from "./written.js";

/** A tensor just written: row `row` of `written`, where the file holds it, and when the file system has it. */
export interface WrittenRow {
  readonly written: WrittenShard;
  readonly row: number;
  readonly range: { readonly start: number; readonly length: number };
  /** Resolves once the file holds the tensor (small tensors wait for their coalesced write). */
  onDisk(): Promise<void>;
}

export interface WriteProgress {
  /** Bytes of tensor data written so far in this shard. */
  readonly bytes: number;
  readonly tensor: string;
}

/** Sequential writer with one write in flight and small writes coalesced. */
class ShardSink {
  private position = 0;
  /** Bytes from the start of the file that the file system has accepted. */
  private written = 0;
  private readonly waiters: { position: number; resolve: () => void }[] = [];
  private pending: Promise<unknown> | null = null;
  private buffer: Buffer = Buffer.allocUnsafeSlow(COALESCE_SIZE);
  private spare: Buffer | null = null;
  private filled = 0;
  constructor(private readonly fh: FileHandle) {}

  /** Queue `bytes`; `done` runs once they are on their way to the file and the buffer may be reused. */
  async write(bytes: Uint8Array, done?: () => void): Promise<void> {
    if (bytes.byteLength < COALESCE_SIZE / 4) {
      if (this.filled + bytes.byteLength > COALESCE_SIZE) await this.flush();
      this.buffer.set(bytes, this.filled);
      this.filled += bytes.byteLength;
      done?.();
      return;
    }
    await this.flush();
    await this.issue(bytes, done);
  }

  async flush(): Promise<void> {
    if (this.filled === 0) return;
    const full = this.buffer;
    const out = full.subarray(0, this.filled);
    // The full buffer belongs to the write in flight; the other one (free once that write is issued) takes over.
    await this.issue(out, () => {
      this.spare = full;
    });
    this.buffer = this.spare ?? Buffer.allocUnsafeSlow(COALESCE_SIZE);
    this.spare = null;
    this.filled = 0;
  }

  private async issue(bytes: Uint8Array, done?: () => void): Promise<void> {
    if (this.pending) await this.pending;
    const at = this.position;
    this.position += bytes.byteLength;
    this.pending = writeAll(this.fh, bytes, at).then(() => {
      this.written = at + bytes.byteLength;
      for (let i = this.waiters.length - 1; i >= 0; i--) {
        const w = this.waiters[i];
        if (w && w.position <= this.written) {
          this.waiters.splice(i, 1);
          w.resolve();
        }
      }
      done?.();
    });
  }

  /** Resolves once the file holds every byte before `position` (small writes wait for their batch). */
  whenWritten(position: number): Promise<void> {
    if (position <= this.written) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ position, resolve }));
  }

  /** Where the next byte queued will land. */
  get queued(): number {
    return this.position + this.filled;
  }

  /** Waits until no write is in flight (one that fails is reported to whoever awaits it, not here). */
  async settle(): Promise<void> {
    await this.pending?.catch(() => undefined);
  }

  async close(): Promise<number> {
    await this.flush();
    if (this.pending) await this.pending;
    this.pending = null;
    return this.position;
  }
}


/**
 * Write one planned shard to `path`: header first, then each tensor streamed from its source through a bounded
 * set of buffers, copied byte for byte when its dtype is kept and converted chunk by chunk (with a loss report)
 * when not; each tensor's bytes are digested as they pass.
 */
export async function writeShard(params: {
  shard: PlannedShard;
  path: string;
  allowOverflow: boolean;
  /** Worker threads for conversions. */
  castPool: CastPool;
  /** Chunk buffers, shared by the shards of one export (default: this shard's own). */
  buffers?: BufferPool;
  onProgress?: (p: WriteProgress) => void;
  /**
   * Called when a tensor is complete, with its file range and a way to wait until the file holds it, so that
   * verification can start while later tensors are still being written.
   */
  onTensor?: (t: WrittenRow) => void;
}): Promise<WrittenShard> {
  const { shard } = params;
  const { table } = shard;
  const fh = await open(params.path, "wx");
  const pool = params.buffers ?? new BufferPool();
  const { castPool } = params;
  // A converted tensor's chunks, and their conversions, in the cast workers' shared memory where it has room
  // (read into and written from there: cast-arena.ts); every buffer goes back to where it came from.
  const castAlloc = (n: number): Uint8Array => castPool.alloc(n) ?? pool.alloc(n);
  const release = (b: Uint8Array): void => {
    if (!castPool.release(b)) pool.release(b);
  };
  const written = new WrittenShard(shard);
  let bytes = 0;
  const sink = new ShardSink(fh);
  try {
    for (const chunk of shard.headerChunks()) await sink.write(chunk);
    for (let k = 0; k < table.count; k++) {
      const ref = shard.sources[k] as (typeof shard.sources)[number];
      const outDtype = table.dtype(k);
      const digest = createDigest();
      const converting = outDtype !== ref.dtype;
      if (converting && !(isFloatDType(ref.dtype) && isFloatDType(outDtype))) {
        throw new TruecastError("UNSUPPORTED_DTYPE", `tensor "${ref.name}": cannot convert ${ref.dtype} to ${outDtype}`);
      }
      // A very wide strided view may keep a scratch file beside the shard, in the folder the export owns.
      const read = prefetch(ref.chunks(CHUNK_SIZE, converting ? castAlloc : pool.alloc, { scratchDir: dirname(params.path) }), READ_AHEAD);
      const caster =
        converting && isFloatDType(ref.dtype) && isFloatDType(outDtype)
          ? castStream({ source: read, from: ref.dtype, to: outDtype, pool: castPool, alloc: castAlloc, release })
          : null;
      let tensorBytes = 0;
      for await (const out of caster ? caster.chunks : read) {
        digest.update(out);
        tensorBytes += out.byteLength;
        bytes += out.byteLength;
        await sink.write(out, () => release(out));
        params.onProgress?.({ bytes, tensor: ref.name });
      }
      const expected = table.end(k) - table.begin(k);
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
      written.add(k, digest.digest(), cast);
      const start = shard.headerSize + table.begin(k);
      params.onTensor?.({ written, row: k, range: { start, length: tensorBytes }, onDisk: () => sink.whenWritten(start + tensorBytes) });
    }
    const size = await sink.close();
    if (size !== shard.fileSize) {
      throw new TruecastError("INTERNAL", `${shard.fileName}: wrote ${size} bytes but planned ${shard.fileSize}`);
    }
    const st = await fh.stat();
    written.file = { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
  } finally {
    // An export that stops mid-shard (a failure, Ctrl-C) may leave a write in flight: its next piece must not meet a
    // closed file.
    await sink.settle();
    await fh.close();
  }
  return written;
}
