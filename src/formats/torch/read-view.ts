/**
 * The logical row-major bytes of a strided view, streamed: each output chunk gathers its elements' runs,
 * reading the storage span they cover in one positional read when that span is small, run by run otherwise.
 * A whole storage is never loaded just to read part of it.
 */
import { open } from "node:fs/promises";
import { TruecastError } from "../../errors.js";
import { numelOf, runLayout, runStart, type RunLayout, type StridedView } from "./layout.js";
import { fileAccess, type RandomAccess } from "../zip.js";

/**
 * Largest storage span read at once to serve one output chunk. Bounds memory per tensor reader; a chunk whose
 * elements spread wider (a transposed large matrix) is read run by run instead.
 */
export const VIEW_WINDOW_BYTES = 64 * 1024 * 1024;

export interface ViewChunksParams {
  /** The checkpoint file. */
  readonly path: string;
  readonly tensor: StridedView & { readonly storage: { readonly byteOffset: number } };
  /** Multiple of 8: every chunk but the last holds whole elements. */
  readonly chunkSize: number;
  /** Largest storage span read at once; default {@link VIEW_WINDOW_BYTES}. */
  readonly windowBytes?: number;
}

type Piece = (storageStart: number, count: number, outElem: number) => void;

/** Calls `cb` for each run piece covering logical elements [first, first + n). */
function forEachPiece(layout: RunLayout, storageOffset: number, first: number, n: number, cb: Piece): void {
  let pos = first;
  const end = first + n;
  while (pos < end) {
    const r = Math.floor(pos / layout.run);
    const within = pos - r * layout.run;
    const take = Math.min(layout.run - within, end - pos);
    cb(runStart(layout, storageOffset, r) + within, take, pos - first);
    pos += take;
  }
}

async function readExact(file: RandomAccess, path: string, position: number, length: number): Promise<Uint8Array> {
  const b = await file.read(position, length);
  if (b.length !== length) {
    throw new TruecastError("TORCH_INVALID", `${path}: the file ends inside a storage record (byte ${position + b.length}); it is truncated: re-copy it`);
  }
  return b;
}

/** Gather one output chunk of `n` elements starting at logical element `first`. */
async function gatherChunk(file: RandomAccess, p: ViewChunksParams, layout: RunLayout, first: number, n: number): Promise<Uint8Array> {
  const { tensor: t, path } = p;
  const size = t.itemSize;
  const out = new Uint8Array(n * size);
  let lo = Number.MAX_SAFE_INTEGER;
  let hi = 0;
  forEachPiece(layout, t.storageOffset, first, n, (s, c) => {
    lo = Math.min(lo, s);
    hi = Math.max(hi, s + c);
  });
  const base = t.storage.byteOffset;
  if ((hi - lo) * size <= (p.windowBytes ?? VIEW_WINDOW_BYTES)) {
    const span = await readExact(file, path, base + lo * size, (hi - lo) * size);
    forEachPiece(layout, t.storageOffset, first, n, (s, c, o) => {
      out.set(span.subarray((s - lo) * size, (s - lo + c) * size), o * size);
    });
    return out;
  }
  // Spread wide: read run by run (consecutive runs that touch in the storage are read together).
  const end = first + n;
  for (let pos = first; pos < end; ) {
    const r = Math.floor(pos / layout.run);
    const within = pos - r * layout.run;
    const s = runStart(layout, t.storageOffset, r) + within;
    let take = Math.min(layout.run - within, end - pos);
    while (pos + take < end && runStart(layout, t.storageOffset, Math.floor((pos + take) / layout.run)) === s + take) {
      take += Math.min(layout.run, end - pos - take);
    }
    out.set(await readExact(file, path, base + s * size, take * size), (pos - first) * size);
    pos += take;
  }
  return out;
}

/** The view's logical row-major contents as chunks of at most `chunkSize` bytes. */
export async function* viewChunks(p: ViewChunksParams): AsyncGenerator<Uint8Array, void, undefined> {
  const { tensor: t, chunkSize } = p;
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) throw new TruecastError("INTERNAL", `viewChunks: bad chunk size ${chunkSize}`);
  const numel = Number(numelOf(t.shape));
  if (numel === 0) return;
  const perChunk = Math.max(1, Math.floor(chunkSize / t.itemSize));
  const layout = runLayout(t);
  const handle = await open(p.path, "r");
  try {
    const file = fileAccess(handle, (await handle.stat()).size);
    for (let first = 0; first < numel; first += perChunk) {
      yield await gatherChunk(file, p, layout, first, Math.min(perChunk, numel - first));
    }
  } finally {
    await handle.close();
  }
}
