/**
 * The logical row-major bytes of a strided view, streamed. Each output chunk is gathered in batches of runs
 * (stretches of consecutive storage elements): a batch's runs are sorted by where they lie in the storage and
 * read in few positional reads, each covering runs that lie close together (gaps under {@link VIEW_GAP_BYTES})
 * and at most {@link VIEW_WINDOW_BYTES} long, then copied into place. Memory per reader is bounded by the window,
 * the chunk and the batch; a whole storage is never loaded just to read part of it.
 */
import { open } from "node:fs/promises";
import { TruecastError } from "../../errors.js";
import { numelOf, runLayout, type RunLayout, type StridedView } from "./layout.js";
import { fileAccess, type RandomAccess } from "../zip.js";

/** Largest storage span read at once (a single run longer than this is read alone). */
export const VIEW_WINDOW_BYTES = 16 * 1024 * 1024;
/**
 * Runs this close together are read together: reading the gap costs less than another positional read
 * (~30 µs through node's file API, about what copying 128 KB takes).
 */
export const VIEW_GAP_BYTES = 128 * 1024;
/** Runs gathered per batch; bounds the batch's bookkeeping (about 20 bytes a run). */
export const VIEW_BATCH_RUNS = 1 << 19;

export interface ViewChunksParams {
  /** The checkpoint file. */
  readonly path: string;
  readonly tensor: StridedView & { readonly storage: { readonly byteOffset: number } };
  /** Multiple of 8: every chunk but the last holds whole elements. */
  readonly chunkSize: number;
  /** Largest storage span read at once; default {@link VIEW_WINDOW_BYTES}. */
  readonly windowBytes?: number;
  /** Largest gap read through to join two runs; default {@link VIEW_GAP_BYTES}. */
  readonly gapBytes?: number;
  /** Runs per batch; default {@link VIEW_BATCH_RUNS}. */
  readonly batchRuns?: number;
  /** Read through this instead of opening `path` (tests count reads). */
  readonly file?: RandomAccess;
}

/** One batch of runs: storage element where each starts, its length, and where it goes in the output chunk. */
interface Batch {
  readonly start: Float64Array;
  readonly count: Uint32Array;
  readonly out: Uint32Array;
  n: number;
}

/** Walks the runs of a view in logical order, an odometer over the outer dims. */
class RunCursor {
  private readonly idx: number[];
  private base: number;
  constructor(private readonly layout: RunLayout, storageOffset: number) {
    this.idx = layout.outerShape.map(() => 0);
    this.base = storageOffset;
  }
  /** Storage element where the current run starts. */
  get start(): number {
    return this.base;
  }
  next(): void {
    const { outerShape, outerStride } = this.layout;
    for (let d = outerShape.length - 1; d >= 0; d--) {
      const i = (this.idx[d] ?? 0) + 1;
      const stride = outerStride[d] ?? 0;
      if (i < (outerShape[d] ?? 1)) {
        this.idx[d] = i;
        this.base += stride;
        return;
      }
      this.base -= (i - 1) * stride;
      this.idx[d] = 0;
    }
  }
}

async function readExact(file: RandomAccess, path: string, position: number, length: number): Promise<Uint8Array> {
  const b = await file.read(position, length);
  if (b.length !== length) {
    throw new TruecastError("TORCH_INVALID", `${path}: the file ends inside a storage record (byte ${position + b.length}); it is truncated: re-copy it`);
  }
  return b;
}

/** Read a batch's runs in few reads and copy each into `out` (of element size `size`). */
async function readBatch(file: RandomAccess, p: ViewChunksParams, b: Batch, out: Uint8Array): Promise<void> {
  const size = p.tensor.itemSize;
  const base = p.tensor.storage.byteOffset;
  const window = Math.max(1, Math.floor((p.windowBytes ?? VIEW_WINDOW_BYTES) / size)); // in elements
  const gap = Math.floor((p.gapBytes ?? VIEW_GAP_BYTES) / size);
  let sorted = true;
  for (let i = 1; i < b.n && sorted; i++) sorted = (b.start[i] ?? 0) >= (b.start[i - 1] ?? 0);
  const order = new Uint32Array(b.n);
  for (let i = 0; i < b.n; i++) order[i] = i;
  if (!sorted) order.sort((x, y) => (b.start[x] ?? 0) - (b.start[y] ?? 0));
  for (let g = 0; g < b.n; ) {
    const lo = b.start[order[g] ?? 0] ?? 0;
    let hi = lo + (b.count[order[g] ?? 0] ?? 0);
    let h = g + 1;
    for (; h < b.n; h++) {
      const j = order[h] ?? 0;
      const s = b.start[j] ?? 0;
      const e = Math.max(hi, s + (b.count[j] ?? 0));
      if (s > hi + gap || e - lo > window) break;
      hi = e;
    }
    const span = await readExact(file, p.path, base + lo * size, (hi - lo) * size);
    for (let k = g; k < h; k++) {
      const j = order[k] ?? 0;
      const from = ((b.start[j] ?? 0) - lo) * size;
      out.set(span.subarray(from, from + (b.count[j] ?? 0) * size), (b.out[j] ?? 0) * size);
    }
    g = h;
  }
}

/** The view's logical row-major contents as chunks of at most `chunkSize` bytes. */
export async function* viewChunks(p: ViewChunksParams): AsyncGenerator<Uint8Array, void, undefined> {
  const { tensor: t, chunkSize } = p;
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) throw new TruecastError("INTERNAL", `viewChunks: bad chunk size ${chunkSize}`);
  const numel = Number(numelOf(t.shape));
  if (numel === 0) return;
  const perChunk = Math.max(1, Math.floor(chunkSize / t.itemSize));
  const layout = runLayout(t);
  const maxRuns = Math.max(1, Math.min(p.batchRuns ?? VIEW_BATCH_RUNS, perChunk));
  const batch: Batch = { start: new Float64Array(maxRuns), count: new Uint32Array(maxRuns), out: new Uint32Array(maxRuns), n: 0 };
  const runs = new RunCursor(layout, t.storageOffset);
  let within = 0; // elements of the current run already emitted
  const handle = p.file === undefined ? await open(p.path, "r") : undefined;
  try {
    const file = p.file ?? fileAccess(handle as NonNullable<typeof handle>, (await (handle as NonNullable<typeof handle>).stat()).size);
    for (let first = 0; first < numel; first += perChunk) {
      const n = Math.min(perChunk, numel - first);
      const out = new Uint8Array(n * t.itemSize);
      batch.n = 0;
      for (let filled = 0; filled < n; ) {
        const take = Math.min(layout.run - within, n - filled);
        batch.start[batch.n] = runs.start + within;
        batch.count[batch.n] = take;
        batch.out[batch.n] = filled;
        batch.n++;
        filled += take;
        within += take;
        if (within === layout.run) {
          runs.next();
          within = 0;
        }
        if (batch.n === maxRuns) {
          await readBatch(file, p, batch, out);
          batch.n = 0;
        }
      }
      if (batch.n > 0) await readBatch(file, p, batch, out);
      yield out;
    }
  } finally {
    await handle?.close();
  }
}
