/**
 * Reading safetensors files from disk with positional reads: the header alone (8 + N bytes, never the
 * data), and any byte range as a stream of fresh chunks.
 */
import { open, type FileHandle } from "node:fs/promises";
import { TruecastError } from "../../errors.js";
import { checkedHeader, parseHeader, readHeaderSize } from "./header.js";
import { readHeaderPieces } from "./header-pieces.js";
import { newTarget } from "./header-entries.js";
import type { TensorTable } from "./tensor-table.js";
import { HEADER_LENGTH_PREFIX, type SafetensorsHeader } from "./spec.js";
import type { RandomAccess } from "../zip.js";

export type SafetensorsFileHeader = SafetensorsHeader & { path: string; fileSize: number };

/** Reads and validates the header of the safetensors file at `path` (its data is not read). */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsFileHeader> {
  const handle = await openForRead(path);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw notAFile(path, stat.isDirectory());
    return await readSafetensorsHeaderFrom({ file: handleAccess(handle, stat.size, path), path });
  } finally {
    await handle.close();
  }
}

/**
 * Reads and validates the header of a safetensors file opened elsewhere (a store's file, local or remote): two
 * positional reads, the 8-byte length and then the header; its data is not read. `path` names it in messages
 * and becomes the header's `path`.
 */
export async function readSafetensorsHeaderFrom(params: { file: RandomAccess; path: string }): Promise<SafetensorsFileHeader> {
  const { file, path } = params;
  const fileSize = file.size;
  const prefix = new Uint8Array(HEADER_LENGTH_PREFIX);
  const gotPrefix = await file.read(0, HEADER_LENGTH_PREFIX);
  prefix.set(gotPrefix);
  const headerSize = readHeaderSize({ prefix: prefix.subarray(0, gotPrefix.length), fileSize, file: path });
  if (headerSize > WHOLE_HEADER_MAX) {
    const read = await readInPieces(file, path);
    if (read !== null) return Object.assign(checkedHeader({ ...read, headerSize, fileSize, file: path }), { path, fileSize });
  }
  // Small headers, and large ones that did not read cleanly in pieces (for the exact error, in the reference's order).
  const headerBytes = await file.read(HEADER_LENGTH_PREFIX, headerSize);
  const header = parseHeader({ prefix, headerBytes, fileSize, file: path });
  return Object.assign(header, { path, fileSize });
}

/** Headers past this size are read in pieces (a 100 MB header costs a few megabytes beside its table, not 100 more). */
const WHOLE_HEADER_MAX = 8 * 1024 * 1024;
/** Bytes per piece: few reads of a remote file, little memory. */
const HEADER_PIECE = 4 * 1024 * 1024;

/** Thrown inside {@link readInPieces} to stop at a header the pieces cannot settle alone. */
const UNSETTLED = new TruecastError("ST_DUPLICATE_KEY", "__metadata__ twice");

/**
 * A valid header's tensors (in header order) and metadata, read in pieces into one table by the same scanner:
 * exactly what reading it whole gives. Null for anything else (a broken rule, a name repeated across pieces, a
 * `__metadata__` of null): the caller then reads the header whole, which reports it as the reference does.
 */
async function readInPieces(file: RandomAccess, path: string): Promise<{ table: TensorTable; metadata: Record<string, string> | null } | null> {
  const into = newTarget();
  let metadata: Record<string, string> | null = null;
  let members = 0;
  try {
    await readHeaderPieces({
      file,
      path,
      pieceBytes: HEADER_PIECE,
      into,
      each: (piece) => {
        members += piece.members;
        if (piece.metadata !== null) {
          if (metadata !== null) throw UNSETTLED;
          metadata = piece.metadata;
        }
      },
    });
  } catch (e) {
    if (e instanceof TruecastError) return null;
    throw e;
  }
  const { table } = into;
  // One member per tensor and one for the metadata: anything more is a `__metadata__` the pieces did not settle.
  return members === table.count + (metadata !== null ? 1 : 0) ? { table, metadata } : null;
}

/**
 * The `length` bytes of `path` from `start`, as chunks of at most `chunkSize` bytes. The file is opened
 * when iteration starts and closed when it ends, early (`break`) or on error. Each chunk is a fresh
 * buffer of its own. A file that ends early is an ST_TRUNCATED error.
 */
export async function* readRangeChunks(
  path: string,
  start: number,
  length: number,
  chunkSize: number,
  /** Where to read each chunk (a buffer of exactly the length asked); default a fresh buffer per chunk. */
  alloc?: (byteLength: number) => Uint8Array,
): AsyncGenerator<Uint8Array, void, undefined> {
  for (const [what, v] of [["start", start], ["length", length]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new TruecastError("INTERNAL", `readRangeChunks: bad ${what} ${v}`);
  }
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
    throw new TruecastError("INTERNAL", `readRangeChunks: bad chunk size ${chunkSize}`);
  }
  if (length === 0) return;
  const handle = await openForRead(path);
  try {
    yield* handleRangeChunks({ handle, path, start, length, chunkSize, ...(alloc ? { alloc } : {}) });
  } finally {
    await handle.close();
  }
}

/**
 * {@link readRangeChunks} over a handle the caller opened and closes (a store's file): the same chunks, checks
 * and errors, with `path` naming the file in them.
 */
export async function* handleRangeChunks(params: {
  handle: FileHandle;
  path: string;
  start: number;
  length: number;
  chunkSize: number;
  alloc?: (byteLength: number) => Uint8Array;
}): AsyncGenerator<Uint8Array, void, undefined> {
  const { handle, path, start, length, chunkSize, alloc } = params;
  for (const [what, v] of [["start", start], ["length", length]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new TruecastError("INTERNAL", `readRangeChunks: bad ${what} ${v}`);
  }
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
    throw new TruecastError("INTERNAL", `readRangeChunks: bad chunk size ${chunkSize}`);
  }
  for (let done = 0; done < length; ) {
    const n = Math.min(chunkSize, length - done);
    let chunk: Uint8Array;
    if (alloc) {
      chunk = alloc(n);
      if (chunk.byteLength !== n) throw new TruecastError("INTERNAL", `readRangeChunks: alloc gave ${chunk.byteLength} bytes for ${n}`);
    } else {
      // allocUnsafeSlow: not from Buffer's shared pool, so the chunk owns its whole ArrayBuffer.
      const raw = Buffer.allocUnsafeSlow(n);
      chunk = new Uint8Array(raw.buffer, raw.byteOffset, n);
    }
    const got = await readAt({ handle, into: chunk, position: start + done, path });
    if (got < n) {
      throw new TruecastError(
        "ST_TRUNCATED",
        `${path}: the file ends at byte ${start + done + got}, inside bytes ${start}..${start + length} that were ` +
          "being read; it shrank while in use or is truncated: re-download or re-copy it",
      );
    }
    done += n;
    yield chunk;
  }
}

/**
 * Positional reads ({@link RandomAccess}) over an open handle of a file of `size` bytes, with file system errors
 * turned into one clear line naming `path` (the caller closes the handle).
 */
export function handleAccess(handle: FileHandle, size: number, path: string): RandomAccess {
  return {
    size,
    async read(position, length) {
      const into = new Uint8Array(Math.max(0, Math.min(length, size - position)));
      const got = await readAt({ handle, into, position, path });
      return got === into.length ? into : into.subarray(0, got);
    },
  };
}

/** Opens `path` for reading, turning the usual failures into one clear line. */
export async function openForRead(path: string): Promise<FileHandle> {
  try {
    return await open(path, "r");
  } catch (e) {
    throw fileError(path, e);
  }
}

/** Fills `into` from `position` on, stopping early only at the end of the file. Returns the bytes read. */
async function readAt(params: { handle: FileHandle; into: Uint8Array; position: number; path: string }): Promise<number> {
  const { handle, into, position, path } = params;
  let filled = 0;
  while (filled < into.length) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(into, filled, into.length - filled, position + filled));
    } catch (e) {
      throw fileError(path, e);
    }
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

function notAFile(path: string, isFolder: boolean): TruecastError {
  return new TruecastError("UNREADABLE", `${path}: is ${isFolder ? "a folder" : "not a regular file"}, not a safetensors file`);
}

/** Maps a Node file system error to NOT_FOUND or UNREADABLE, naming the path. */
export function fileError(path: string, e: unknown): TruecastError {
  const code = typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
  if (code === "ENOENT" || code === "ENOTDIR") {
    return new TruecastError("NOT_FOUND", `${path}: no such file`, { cause: e });
  }
  if (code === "EACCES" || code === "EPERM") {
    return new TruecastError("UNREADABLE", `${path}: permission denied; check the file's permissions`, { cause: e });
  }
  if (code === "EISDIR") return new TruecastError("UNREADABLE", notAFile(path, true).message, { cause: e });
  const detail = e instanceof Error ? e.message : String(e);
  return new TruecastError("UNREADABLE", `${path}: cannot be read (${detail})`, { cause: e });
}
