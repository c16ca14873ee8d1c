/**
 * Where a model's files live, local or remote, seen the same way: a listing of files and positional reads of any
 * one of them. Sources (safetensors, torch zip, folders), `inspect`, `audit` and `diff` read through a
 * {@link ModelStore}, so that a Hub repo read in place with range requests (`hf://org/name@rev`) and a local folder
 * take the same code path. Knows nothing of models.
 */
import { TruecastError } from "../errors.js";
import type { RandomAccess } from "../formats/zip.js";

/** One file of a store. */
export interface StoreEntry {
  /** Path inside the store, '/'-separated, no leading '/'. */
  readonly path: string;
  readonly size: number;
  /**
   * The file's SHA-256 (lowercase hex) when the store knows it without reading the file: a Hub LFS object's oid,
   * or a Hugging Face cache blob's name. Absent otherwise.
   */
  readonly sha256?: string;
}

/** One opened file: positional reads ({@link RandomAccess}) plus streamed ranges. */
export interface StoreFile extends RandomAccess {
  /** The path it was opened by, inside its store. */
  readonly path: string;
  /**
   * `length` bytes from `start`, in order, as chunks of at most `chunkSize` bytes; each chunk a fresh buffer, or
   * one `alloc(n)` returned. A file that ends before `start + length` is an ST_TRUNCATED error.
   */
  chunks(start: number, length: number, chunkSize: number, alloc?: (byteLength: number) => Uint8Array): AsyncIterable<Uint8Array>;
  close(): Promise<void>;
}

/** What a store cost so far: for a remote store, the HTTP requests made and the bytes they brought. */
export interface StoreStats {
  readonly requests: number;
  readonly bytesRead: number;
}

export interface ModelStore {
  /** How to name it to a person: the local folder as given, or `hf://org/name@rev`. */
  readonly label: string;
  readonly remote: boolean;
  /** Every file, sorted by path. Hidden names (a leading '.' at any depth) are left out. */
  list(): Promise<readonly StoreEntry[]>;
  /** Opens one file of the listing; a path not in it is NOT_FOUND. */
  open(path: string): Promise<StoreFile>;
  stats(): StoreStats;
  /** Release whatever the store holds (connections, temporary files). */
  close(): Promise<void>;
  /**
   * Where a file of the store is on this machine, for a store whose files are local files (absent for a remote
   * store): sources name local files by this path in messages, and carry small local files in place from it.
   */
  localPath?(path: string): string;
}

/** How to name a store's file to a person: its local path, or `<label>/<path>` (`hf://org/name@rev/config.json`). */
export function storeFileName(store: ModelStore, path: string): string {
  return store.localPath?.(path) ?? `${store.label}/${path}`;
}

/** Reads a whole small file, refusing one larger than `maxBytes` (a side file no real model has). */
export async function readWholeFile(store: ModelStore, path: string, maxBytes: number): Promise<Uint8Array> {
  const file = await store.open(path);
  try {
    if (file.size > maxBytes) {
      throw new TruecastError("UNREADABLE", `${store.label}/${path} is ${file.size} bytes, more than the ${maxBytes} a file of its kind may have; it is not read`);
    }
    return await file.read(0, file.size);
  } finally {
    await file.close();
  }
}
