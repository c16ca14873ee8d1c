/**
 * One file of a Hub repo opened for reading: positional reads served from a small block cache, and ranges
 * streamed with bounded memory. A short read that misses the cache fetches the file's first `blockSize` bytes when
 * it falls in them (the speculative block that makes "8 bytes, then the header" one request), its last ones when
 * it falls there (a zip's end records and central directory), else {@link MID_READ_AHEAD} bytes from where it
 * starts; a file no bigger than a block is read whole, once (its chunks too); a read of a block or more goes straight
 * to the Hub and is not kept. Reads of one block at once share one request. Every read of a whole file (a small
 * file's one block, `read(0, size)`, `chunks(0, size)`) is checked against the listing's git blob id or LFS sha256
 * (listed-blob.ts) before a byte of it is handed out: a small file is never used unchecked, and a big one read whole
 * (a carried tokenizer file) fails before its last chunk; ranges of a big file are not re-hashed.
 */
import { TruecastError } from "../errors.js";
import type { StoreFile } from "./store.js";
import type { BlockCache } from "./block-cache.js";
import { fetchRange, streamRange, type RangeTarget } from "./hub-range.js";
import { BlobCheck, checkWholeFile, type ListedBlob } from "./listed-blob.js";

/**
 * Largest chunk a ranged stream yields, whatever the reader asks for: the connection fills each chunk straight from
 * the socket, so a reader's read-ahead of a few chunks need not hold 8 MiB ones (an export's writer keeps about five
 * chunks in use: 2 MiB ones leave ~30 MB of peak RSS out, for three more promises per 8 MiB).
 */
export const MAX_REMOTE_CHUNK = 2 * 1024 * 1024;

/** Read-ahead of a short read in the middle of a file: a zip entry's local header and name, not megabytes. */
export const MID_READ_AHEAD = 16 * 1024;

export interface HubFileParams {
  path: string;
  target: RangeTarget;
  cache: BlockCache;
  blockSize: number;
  /** Fetches in progress, shared by the store's files: key → bytes. */
  inflight: Map<string, Promise<Uint8Array>>;
  /** What the listing says the file is: whole-file reads are checked against it. Absent: nothing is checked. */
  blob?: ListedBlob;
}

function checkRange(what: string, position: number, length: number): void {
  if (!Number.isSafeInteger(position) || position < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new TruecastError("INTERNAL", `${what}: bad range ${position}+${length}`);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}

/** The file as a {@link StoreFile}. */
export function openHubFile(p: HubFileParams): StoreFile {
  const { path, target, cache, blockSize, blob } = p;
  const size = target.size;
  /** Refuses the bytes of the whole file unless they are the listed file. */
  const checkWhole = (bytes: Uint8Array): Uint8Array => {
    if (blob) checkWholeFile(blob, target.label, bytes);
    return bytes;
  };

  /** Bytes [start, end), fetched once for everyone asking at the same time, and kept in the cache. */
  function block(start: number, end: number): Promise<Uint8Array> {
    const key = `${path}\u0000${start}\u0000${end}`;
    let pending = p.inflight.get(key);
    if (!pending) {
      pending = fetchRange(target, start, end).then((bytes) => {
        // A small file is fetched whole, here only: checked once, before anything (the cache included) sees it.
        if (start === 0 && end === size) checkWhole(bytes);
        cache.put(path, start, bytes);
        return bytes;
      }).finally(() => p.inflight.delete(key));
      p.inflight.set(key, pending);
    }
    return pending;
  }

  async function read(position: number, length: number): Promise<Uint8Array> {
    checkRange("read", position, length);
    const end = Math.min(size, position + length);
    if (end <= position) return new Uint8Array(0);
    const hit = cache.get(path, position, end);
    if (hit) return hit;
    if (size <= blockSize) return (await block(0, size)).slice(position, end);
    // What the cache already holds from `position` on is not asked for again.
    const head = cache.prefix(path, position, end) ?? new Uint8Array(0);
    const from = position + head.byteLength;
    // A big file read whole (a tokenizer.json past a block) is checked too; a part of it cannot be.
    const whole = position === 0 && end === size ? checkWhole : (bytes: Uint8Array) => bytes;
    if (end - from >= blockSize) return whole(concat(head, await fetchRange(target, from, end)));
    // A short read: the file's first block (a safetensors length and header), its last (a zip's end records and
    // central directory), or a little read-ahead anywhere else (a zip entry's local header, then its name).
    let bStart: number;
    let bEnd: number;
    if (from < blockSize) [bStart, bEnd] = [0, blockSize];
    else if (from >= size - blockSize) [bStart, bEnd] = [size - blockSize, size];
    else [bStart, bEnd] = [from, Math.min(size, Math.max(end, from + MID_READ_AHEAD))];
    const bytes = await block(bStart, bEnd);
    return whole(concat(head, bytes.subarray(from - bStart, end - bStart)));
  }

  /** A small file's bytes [start, end) as chunks, copied out of its one checked block. */
  async function* smallChunks(start: number, end: number, chunkSize: number, alloc?: (byteLength: number) => Uint8Array): AsyncGenerator<Uint8Array, void, undefined> {
    const bytes = cache.get(path, 0, size) ?? (await block(0, size));
    for (let at = start; at < end; at += chunkSize) {
      const n = Math.min(chunkSize, end - at);
      const c = alloc ? alloc(n) : new Uint8Array(n);
      if (c.byteLength !== n) throw new TruecastError("INTERNAL", `chunks: alloc gave ${c.byteLength} bytes for ${n}`);
      c.set(bytes.subarray(at, at + n));
      yield c;
    }
  }

  /** The whole of a big file as chunks, hashed as they pass; the last one goes out only once the file checks out. */
  async function* checkedChunks(chunks: AsyncIterable<Uint8Array>, check: BlobCheck): AsyncGenerator<Uint8Array, void, undefined> {
    let seen = 0;
    for await (const c of chunks) {
      check.update(c);
      seen += c.byteLength;
      if (seen === size) check.finish();
      yield c;
    }
  }

  return {
    path,
    size,
    read,
    async *chunks(start, length, chunkSize, alloc) {
      checkRange("chunks", start, length);
      if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) throw new TruecastError("INTERNAL", `chunks: bad chunk size ${chunkSize}`);
      if (start + length > size) {
        throw new TruecastError("ST_TRUNCATED", `${target.label}: the file has ${size} bytes, fewer than bytes ${start}..${start + length} that were to be read; the file or its index is damaged`);
      }
      if (length === 0) return;
      if (size <= blockSize) return yield* smallChunks(start, start + length, Math.min(chunkSize, MAX_REMOTE_CHUNK), alloc);
      // Bytes the cache holds from `start` on (a tensor that begins in a header block) are not asked for again.
      const head = cache.prefix(path, start, start + length) ?? undefined;
      const stream = streamRange(target, start, start + length, Math.min(chunkSize, MAX_REMOTE_CHUNK), alloc, head);
      yield* blob && start === 0 && length === size ? checkedChunks(stream, new BlobCheck(blob, target.label)) : stream;
    },
    async close() {},
  };
}
