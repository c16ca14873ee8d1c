/**
 * The logical row-major bytes of a strided view, streamed. The output is made in blocks (a range of one dim's
 * indices, every index of the dims after it), each at most the span bound. A view whose whole storage span fits
 * the bound is read once and every block gathered from it. A larger one is read tile by tile: a tile is the
 * block's elements for one index of its "outside" dims (those whose stride exceeds the split dim's); its storage
 * is one range, and for views made by torch (permutes, transposes, slices and steps of a contiguous tensor) no two
 * tiles, of one block or of two, share a byte, so the view reads about its span once whatever its strides.
 * Neighbouring tiles are read together when what lies between them is less than a page, or at most what the read
 * already holds (a read is never more than twice what it needs). Tiles of a few bytes (a very wide transpose: a block
 * of output rows takes a few bytes of each storage row) would make a read each; such a view, when dense and
 * free of overlaps, is instead made in two passes through a scratch file in a folder the caller lends
 * (view-spill.ts): the span read once in window-sized reads. Memory: one block and one read of at most the window
 * (a spill: a window and its packed copy, then a block and one piece); a whole storage larger than the bound is
 * never loaded.
 */
import { open } from "node:fs/promises";
import { TruecastError } from "../../errors.js";
import { numelOf, type StridedView } from "./layout.js";
import { fileAccess, type RandomAccess } from "../zip.js";
import { Gatherer, Odometer } from "./view-gather.js";
import { ViewSpill, type SpillBlock } from "./view-spill.js";
import { extentOf, isInjective } from "./view-walk.js";

/** Largest storage range read at once (a tile larger than this is read in pieces of this size). */
export const VIEW_WINDOW_BYTES = 16 * 1024 * 1024;
/**
 * A view whose storage span is at most this is read whole and gathered in memory; a larger one is read tile by
 * tile, its output made in blocks of at most this many bytes.
 */
export const VIEW_SPAN_BYTES = 64 * 1024 * 1024;
/** Gaps under this are read through: the storage below reads whole pages anyway. */
export const VIEW_PAGE_BYTES = 4096;
/**
 * A view over the span bound whose tiles span less than this is made through a scratch file (when the caller lends
 * a folder): reading it tile by tile would take a read per tile, and over hf:// a request per tile.
 */
export const VIEW_SPILL_TILE_BYTES = 256 * 1024;
/**
 * Most pieces (windows × blocks) a spill keeps the place of (8 bytes each): the table grows with the square of the
 * view's size, so a view that would need more (tens of GB at the default bounds) is read tile by tile instead.
 */
export const VIEW_SPILL_MAX_PIECES = 4 * 1024 * 1024;

export interface ViewChunksParams {
  /** The checkpoint file. */
  readonly path: string;
  readonly tensor: StridedView & { readonly storage: { readonly byteOffset: number } };
  /** Multiple of 8: every chunk but the last holds whole elements. */
  readonly chunkSize: number;
  /** Largest storage range read at once; default {@link VIEW_WINDOW_BYTES}. */
  readonly windowBytes?: number;
  /** Largest storage span gathered in memory, and largest output block; default {@link VIEW_SPAN_BYTES}. */
  readonly spanBytes?: number;
  /**
   * A folder the caller owns (an export's staging folder) where a view too wide to read in large reads tile by tile
   * is made in two passes through a scratch file (unlinked as soon as it is made, where the system allows; else
   * removed when the read ends, fails or is abandoned).
   * Without it such a view is read tile by tile.
   */
  readonly scratchDir?: string;
  /** Read through this instead of opening `path` (tests count reads). */
  readonly file?: RandomAccess;
  /**
   * Where each chunk's buffer comes from (an export's buffer pool, which takes it back once written); default: a
   * fresh buffer each.
   */
  readonly alloc?: (byteLength: number) => Uint8Array;
}

async function readExact(file: RandomAccess, path: string, position: number, length: number): Promise<Uint8Array> {
  const b = await file.read(position, length);
  if (b.length !== length) {
    throw new TruecastError("TORCH_INVALID", `${path}: the file ends inside a storage record (byte ${position + b.length}); it is truncated: re-copy it`);
  }
  return b;
}

/** The view's logical row-major contents as chunks of at most `chunkSize` bytes. */
export async function* viewChunks(p: ViewChunksParams): AsyncGenerator<Uint8Array, void, undefined> {
  const { tensor: t, chunkSize } = p;
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) throw new TruecastError("INTERNAL", `viewChunks: bad chunk size ${chunkSize}`);
  if (t.stride.some((s) => s < 0)) throw new TruecastError("INTERNAL", `viewChunks: negative stride [${t.stride.join(", ")}]`);
  if (Number(numelOf(t.shape)) === 0) return;
  const handle = p.file === undefined ? await open(p.path, "r") : undefined;
  try {
    const file = p.file ?? fileAccess(handle as NonNullable<typeof handle>, (await (handle as NonNullable<typeof handle>).stat()).size);
    yield* blockChunks(p, file);
  } finally {
    await handle?.close();
  }
}

/** A file that reads ranges into buffers it is lent (a store's file: `StoreFile.chunks` takes an `alloc`). */
interface LendingAccess extends RandomAccess {
  chunks(start: number, length: number, chunkSize: number, alloc?: (byteLength: number) => Uint8Array): AsyncIterable<Uint8Array>;
}

function isStoreFile(file: RandomAccess): file is LendingAccess {
  return typeof (file as Partial<LendingAccess>).chunks === "function";
}

/** `dest.length` bytes at `position` read into `dest` (in place: the file's chunks are made in it). */
async function readInto(file: LendingAccess, path: string, position: number, dest: Uint8Array): Promise<Uint8Array> {
  if (position + dest.length > file.size) {
    throw new TruecastError("TORCH_INVALID", `${path}: the file ends inside a storage record (byte ${file.size}); it is truncated: re-copy it`);
  }
  let at = 0;
  for await (const c of file.chunks(position, dest.length, dest.length, (n) => dest.subarray(at, at + n))) {
    if (c.buffer !== dest.buffer || c.byteOffset !== dest.byteOffset + at) dest.set(c, at);
    at += c.length;
  }
  return dest;
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
 * The view block by block. Blocks: indices [r0, r0 + g) of dim `k` (the outermost whose rows, all the dims after it,
 * fit the bound) for each index of the dims before it; yielded in chunks, a partial chunk carried to the next block.
 */
async function* blockChunks(p: ViewChunksParams, file: RandomAccess): AsyncGenerator<Uint8Array, void, undefined> {
  const { tensor: t } = p;
  const size = t.itemSize;
  const window = Math.max(size, Math.floor((p.windowBytes ?? VIEW_WINDOW_BYTES) / size) * size);
  const bound = Math.max(size, p.spanBytes ?? VIEW_SPAN_BYTES);
  // Size-1 dims change nothing; a scalar is one dim of one element.
  const shape: number[] = [];
  const stride: number[] = [];
  t.shape.forEach((n, d) => {
    if (n !== 1) {
      shape.push(n);
      stride.push(t.stride[d] ?? 0);
    }
  });
  if (shape.length === 0) {
    shape.push(1);
    stride.push(0);
  }
  const nd = shape.length;
  const outStride = new Array<number>(nd).fill(1); // row-major output strides, in elements
  for (let d = nd - 2; d >= 0; d--) outStride[d] = (outStride[d + 1] ?? 1) * (shape[d + 1] ?? 1);
  let k = 0;
  while ((outStride[k] ?? 1) * size > bound) k++;
  const rowNumel = outStride[k] ?? 1;
  const g = Math.max(1, Math.min(shape[k] ?? 1, Math.floor(bound / (rowNumel * size))));
  const extent = extentOf({ shape, stride }); // storage elements the view spans
  const whole = extent * size <= bound ? await readSpan(file, p, t.storageOffset, extent, window) : undefined;
  // Within a block: dims after k whose stride exceeds k's are outside (one tile per index, largest stride
  // outermost, so tiles come in storage order); dim k and the rest make the tile.
  const sk = stride[k] ?? 0;
  const after = [...Array(nd - k - 1).keys()].map((i) => i + k + 1);
  const outside = after.filter((d) => (stride[d] ?? 0) > sk).sort((a, b) => (stride[b] ?? 0) - (stride[a] ?? 0) || a - b);
  const inside = after.filter((d) => (stride[d] ?? 0) <= sk);
  const tileOf = (dims: number[], rows: number) => ({
    shape: dims.map((d) => (d === k ? rows : shape[d] ?? 1)),
    stride: dims.map((d) => stride[d] ?? 0),
    outStride: dims.map((d) => outStride[d] ?? 1),
  });
  const blocks: SpillBlock[] = [];
  for (const before = new Odometer(shape.slice(0, k), stride.slice(0, k), outStride.slice(0, k)); !before.done; before.next()) {
    for (let r0 = 0; r0 < (shape[k] ?? 1); r0 += g) blocks.push({ base: t.storageOffset + before.storage + r0 * sk, rows: Math.min(g, (shape[k] ?? 1) - r0) });
  }
  // Tiles of a few bytes each would make as many reads: a dense view that maps no two elements to one storage
  // element is then made through a scratch file instead, when the caller lends a folder for it.
  const spills = whole === undefined && p.scratchDir !== undefined &&
    extentOf(tileOf([k, ...inside], g)) * size < VIEW_SPILL_TILE_BYTES && // tiles this small: a read each
    isInjective({ shape, stride }) && 2 * Number(numelOf(shape)) >= extent && // the span packs into the view's size
    Math.ceil(extent / (window / size)) * (blocks.length + 1) <= VIEW_SPILL_MAX_PIECES;
  // Pass 1's window buffer, one for every window when the file reads into a buffer it is given.
  let windowBuffer: Uint8Array | undefined;
  const spill = spills && p.scratchDir !== undefined
    ? await ViewSpill.create({
      dir: p.scratchDir, itemSize: size, lo: t.storageOffset, extent, windowElems: window / size, blocks, rowBytes: rowNumel * size,
      dimsOf: (rows) => tileOf([k, ...after], rows),
      // One read per window (count is at most a window): into the one window buffer through a store file's chunks,
      // else as the read comes, unless its words are misaligned.
      readStorage: async (lo, count) => {
        const position = t.storage.byteOffset + lo * size;
        if (!isStoreFile(file)) {
          const b = await readExact(file, p.path, position, count * size);
          return b.byteOffset % 8 === 0 ? b : b.slice();
        }
        windowBuffer ??= new Uint8Array(Math.min(extent * size, window));
        return readInto(file, p.path, position, windowBuffer.subarray(0, count * size));
      },
    })
    : undefined;
  windowBuffer = undefined; // pass 1 is over: pass 2 reads its pieces into the spill's packing buffer
  try {
    const perChunk = Math.max(1, Math.floor(p.chunkSize / size)) * size;
    const newChunk = (n: number): Uint8Array => {
      const c = p.alloc ? p.alloc(n) : new Uint8Array(n);
      if (c.byteLength !== n) throw new TruecastError("INTERNAL", `viewChunks: alloc gave ${c.byteLength} bytes for ${n}`);
      return c;
    };
    // One block buffer for every block, made once the spill's first pass is over: a block's bytes go out as copies
    // (chunks), so the next block is made in the same memory instead of in a new one while the last waits for the
    // garbage collector (two blocks, 128 MiB at the default bound, at each block's start).
    let blockBuffer: Uint8Array | undefined;
    let left = Number(numelOf(shape)) * size; // bytes not yet placed in a chunk
    let chunk: Uint8Array | undefined; // the chunk being filled, `filled` bytes of it
    let filled = 0;
    for (let j = 0; j < blocks.length; j++) {
      const { base, rows } = blocks[j] as SpillBlock;
      blockBuffer ??= new Uint8Array(g * rowNumel * size);
      const out = blockBuffer.subarray(0, rows * rowNumel * size);
      if (spill !== undefined) {
        await spill.block(j, out);
      } else if (whole !== undefined) {
        const b = tileOf([k, ...after], rows);
        new Gatherer(b.shape, b.stride, b.outStride, size, out).copy(whole, base - t.storageOffset, 0);
      } else {
        await readTiles(file, p, out, base, tileOf([k, ...inside], rows), tileOf(outside, 0), window);
      }
      // Chunks of `perChunk` bytes of the output stream, whichever blocks their bytes come from.
      for (let at = 0; at < out.length; ) {
        chunk ??= newChunk(Math.min(perChunk, left));
        const n = Math.min(chunk.length - filled, out.length - at);
        chunk.set(out.subarray(at, at + n), filled);
        filled += n;
        at += n;
        left -= n;
        if (filled === chunk.length) {
          const c = chunk;
          chunk = undefined;
          filled = 0;
          yield c;
        }
      }
    }
  } finally {
    await spill?.close();
  }
}

interface Dims {
  readonly shape: readonly number[];
  readonly stride: readonly number[];
  readonly outStride: readonly number[];
}

/**
 * Fill `out` (one block) tile by tile: `tile` is one tile's dims, `outside` the dims that enumerate the tiles.
 * Tiles are read in storage order, neighbours together when the gap between them is under a page or at most the
 * tiles already in the read (so a read is never more than twice what it holds, and a tile larger than the window
 * is read alone, in window-sized pieces).
 */
async function readTiles(file: RandomAccess, p: ViewChunksParams, out: Uint8Array, base: number, tile: Dims, outside: Dims, window: number): Promise<void> {
  const size = p.tensor.itemSize;
  const gatherer = new Gatherer(tile.shape, tile.stride, tile.outStride, size, out);
  const tileExtent = extentOf(tile); // storage elements one tile spans
  const windowElems = window / size;
  const page = Math.max(1, Math.floor(VIEW_PAGE_BYTES / size));
  // The read being assembled: storage elements [lo, hi), the tiles in it (start, output offset), gap elements in it.
  let lo = 0;
  let hi = 0;
  let gaps = 0;
  const starts: number[] = [];
  const outs: number[] = [];
  const flush = async (): Promise<void> => {
    for (let at = lo; at < hi; at += windowElems) {
      const n = Math.min(windowElems, hi - at);
      const src = await readSpan(file, p, at, n, window);
      for (let i = 0; i < starts.length; i++) gatherer.copy(src, (starts[i] ?? 0) - at, outs[i] ?? 0);
    }
    starts.length = 0;
    outs.length = 0;
  };
  for (const o = new Odometer(outside.shape, outside.stride, outside.outStride); !o.done; o.next()) {
    const s = base + o.storage;
    const gap = s - hi;
    if (starts.length > 0 && gap >= 0 && s + tileExtent - lo <= windowElems && (gap < page || gaps + gap <= hi - lo - gaps)) {
      gaps += gap;
    } else {
      if (starts.length > 0) await flush();
      lo = s;
      gaps = 0;
    }
    hi = s + tileExtent;
    starts.push(s);
    outs.push(o.output);
  }
  await flush();
}
