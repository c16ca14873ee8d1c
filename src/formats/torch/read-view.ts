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
/**
 * A view whose storage span (or, row group by row group of its first dim, whose group's span) is at most this
 * is read whole in window-sized reads and gathered in memory; at most this much storage and this much output are held.
 */
export const VIEW_SPAN_BYTES = 64 * 1024 * 1024;

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
  /** Largest storage span (and row group of output) gathered in memory; default {@link VIEW_SPAN_BYTES}. */
  readonly spanBytes?: number;
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
  if (Number(numelOf(t.shape)) === 0) return;
  const window = Math.max(t.itemSize, Math.floor((p.windowBytes ?? VIEW_WINDOW_BYTES) / t.itemSize) * t.itemSize);
  const bound = p.spanBytes ?? VIEW_SPAN_BYTES;
  const plan = spanPlan(t, bound, window);
  const handle = p.file === undefined ? await open(p.path, "r") : undefined;
  try {
    const file = p.file ?? fileAccess(handle as NonNullable<typeof handle>, (await (handle as NonNullable<typeof handle>).stat()).size);
    yield* plan === undefined ? batchedChunks(p, file) : spanChunks(p, file, plan, bound, window);
  } finally {
    await handle?.close();
  }
}

/** How a view's rows (of its first dim) are gathered: storage elements one row spans, elements per row, first-dim stride. */
interface RowShape {
  readonly rows: number;
  readonly s0: number;
  readonly inner: number;
  readonly rowNumel: number;
}

function rowShape(t: StridedView): RowShape {
  let inner = 1;
  let rowNumel = 1;
  for (let d = 1; d < t.shape.length; d++) {
    inner += ((t.shape[d] ?? 1) - 1) * (t.stride[d] ?? 0);
    rowNumel *= t.shape[d] ?? 1;
  }
  return { rows: t.shape.length === 0 ? 1 : t.shape[0] ?? 1, s0: t.stride.length === 0 ? 0 : t.stride[0] ?? 0, inner, rowNumel };
}

/**
 * Rows of the first dim gathered together so that a group's output fits the window. A view whose whole storage span
 * fits `bound` bytes is read once; otherwise each group's span is swept in `bound`-sized slices. Undefined (gather in
 * batches of runs instead) when a stride is negative, or when the span does not fit and the view has contiguous
 * runs (those batches already read only what is needed, in few reads), or when one row's output does not fit.
 */
function spanPlan(t: StridedView, bound: number, window: number): { groupRows: number; whole: boolean } | undefined {
  if (t.stride.some((s) => s < 0)) return undefined;
  const { rows, s0, inner, rowNumel } = rowShape(t);
  const whole = ((rows - 1) * s0 + inner) * t.itemSize <= bound;
  if (!whole && runLayout(t).run > 1) return undefined;
  if (rowNumel * t.itemSize > Math.max(window, bound)) return undefined; // one row's output would not fit
  return { groupRows: Math.max(1, Math.min(rows, Math.floor(window / (rowNumel * t.itemSize)))), whole };
}

/**
 * Copy into `out` (rows [r0, r0 + rows) of dim 0, row-major) every element of those rows whose storage element lies
 * in `src` (storage elements [lo, lo + src.length / itemSize)). The dim with the largest stride is scanned innermost,
 * its in-range indices found by division, so a slice costs its elements plus one step per line.
 */
function gather(t: StridedView, src: Uint8Array, lo: number, r0: number, rows: number, out: Uint8Array): void {
  const shape = t.shape.length === 0 ? [1] : [rows, ...t.shape.slice(1)];
  const stride = t.stride.length === 0 ? [0] : t.stride;
  const nd = shape.length;
  // Both buffers are freshly allocated (offset 0): copy words of 4, 2 or 1 bytes, k per element.
  const width = t.itemSize % 4 === 0 ? 4 : t.itemSize % 2 === 0 ? 2 : 1;
  const as = (b: Uint8Array): Uint32Array | Uint16Array | Uint8Array =>
    width === 4 ? new Uint32Array(b.buffer, b.byteOffset, b.length >> 2) : width === 2 ? new Uint16Array(b.buffer, b.byteOffset, b.length >> 1) : b;
  const sa = as(src);
  const oa = as(out);
  const k = t.itemSize / width;
  const count = src.length / t.itemSize;
  const outStride = new Array<number>(nd).fill(1);
  for (let d = nd - 2; d >= 0; d--) outStride[d] = (outStride[d + 1] ?? 1) * (shape[d + 1] ?? 1);
  let q = nd - 1; // scanned dim: the largest stride (ties: the innermost)
  for (let d = nd - 1; d >= 0; d--) if ((stride[d] ?? 0) > (stride[q] ?? 0)) q = d;
  const n = shape[q] ?? 1;
  const sq = stride[q] ?? 0;
  const oq = (outStride[q] ?? 1) * k;
  const idx = new Array<number>(nd).fill(0);
  let base = t.storageOffset + r0 * (stride[0] ?? 0) - lo; // storage element (relative to lo) of the line's index 0
  let ob = 0; // output element of the line's index 0
  for (;;) {
    let i0 = 0;
    let i1 = n;
    if (sq === 0) {
      if (base < 0 || base >= count) i1 = 0;
    } else {
      i0 = base >= 0 ? 0 : Math.ceil(-base / sq);
      i1 = base >= count ? 0 : Math.min(n, Math.floor((count - 1 - base) / sq) + 1);
    }
    let from = (base + i0 * sq) * k;
    let w = (ob * k) + i0 * oq;
    const step = sq * k;
    if (k === 1) {
      for (let i = i0; i < i1; i++, from += step, w += oq) oa[w] = sa[from] as number;
    } else {
      for (let i = i0; i < i1; i++, from += step, w += oq) for (let j = 0; j < k; j++) oa[w + j] = sa[from + j] as number;
    }
    let d = nd - 1;
    for (; d >= 0; d--) {
      if (d === q) continue;
      const i = (idx[d] ?? 0) + 1;
      const st = stride[d] ?? 0;
      const os = outStride[d] ?? 1;
      if (i < (shape[d] ?? 1)) {
        idx[d] = i;
        base += st;
        ob += os;
        break;
      }
      base -= (i - 1) * st;
      ob -= (i - 1) * os;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

/** Storage elements [lo, lo + count) read in window-sized reads into one fresh buffer. */
async function readSpan(file: RandomAccess, p: ViewChunksParams, lo: number, count: number, window: number): Promise<Uint8Array> {
  const size = p.tensor.itemSize;
  const src = new Uint8Array(count * size);
  for (let at = 0; at < src.length; at += window) {
    src.set(await readExact(file, p.path, p.tensor.storage.byteOffset + lo * size + at, Math.min(window, src.length - at)), at);
  }
  return src;
}

/**
 * Row group by row group: gather the group from the whole view's span (read once) or from its own span, swept in
 * slices of at most `bound` bytes, each read once per group; yield the result in chunks.
 */
async function* spanChunks(p: ViewChunksParams, file: RandomAccess, plan: { groupRows: number; whole: boolean }, bound: number, window: number): AsyncGenerator<Uint8Array, void, undefined> {
  const { tensor: t } = p;
  const size = t.itemSize;
  const { rows, s0, inner, rowNumel } = rowShape(t);
  const perChunk = Math.max(1, Math.floor(p.chunkSize / size)) * size;
  const wholeSpan = plan.whole ? await readSpan(file, p, t.storageOffset, (rows - 1) * s0 + inner, window) : undefined;
  const slice = Math.max(1, Math.floor(bound / size)); // storage elements per sweep slice
  let pending: Uint8Array | undefined; // a partial chunk carried to the next group
  for (let r0 = 0; r0 < rows; r0 += plan.groupRows) {
    const n = Math.min(plan.groupRows, rows - r0);
    let out = new Uint8Array(n * rowNumel * size);
    if (wholeSpan !== undefined) gather(t, wholeSpan, t.storageOffset, r0, n, out);
    else {
      const lo = t.storageOffset + r0 * s0;
      const span = (n - 1) * s0 + inner;
      for (let at = 0; at < span; at += slice) gather(t, await readSpan(file, p, lo + at, Math.min(slice, span - at), window), lo + at, r0, n, out);
    }
    if (pending !== undefined) {
      const joined = new Uint8Array(pending.length + out.length);
      joined.set(pending);
      joined.set(out, pending.length);
      out = joined;
      pending = undefined;
    }
    let at = 0;
    for (; out.length - at >= perChunk; at += perChunk) yield out.slice(at, at + perChunk);
    if (at < out.length) pending = out.slice(at);
  }
  if (pending !== undefined) yield pending;
}

/** The view gathered chunk by chunk in batches of runs (a view whose span does not fit the span bound). */
async function* batchedChunks(p: ViewChunksParams, file: RandomAccess): AsyncGenerator<Uint8Array, void, undefined> {
  const { tensor: t, chunkSize } = p;
  const numel = Number(numelOf(t.shape));
  const perChunk = Math.max(1, Math.floor(chunkSize / t.itemSize));
  const layout = runLayout(t);
  const maxRuns = Math.max(1, Math.min(p.batchRuns ?? VIEW_BATCH_RUNS, perChunk));
  const batch: Batch = { start: new Float64Array(maxRuns), count: new Uint32Array(maxRuns), out: new Uint32Array(maxRuns), n: 0 };
  const runs = new RunCursor(layout, t.storageOffset);
  let within = 0; // elements of the current run already emitted
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
}
