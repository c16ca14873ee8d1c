/**
 * The sha256 of a publish's first LFS files, started as soon as the folder is listed and checked, so that it runs
 * while the Hub is asked about the token, the repository, the branch and each file's upload mode (a handful of
 * round trips, each 0.1–0.3 s to the real Hub) instead of after them. The LFS protocol needs a file's sha256
 * before its first byte is sent, so the first upload waits for exactly this hash.
 *
 * Only files over MAX_REGULAR_FILE_BYTES are hashed early: they go to LFS whatever the Hub's preupload answer says,
 * so their sha256 is needed either way. Each hash runs on a worker thread and reads the file through its identity
 * as listed (device, inode, size, mtime, checked before and after the pass), exactly as an upload's own hash does:
 * a file changed after the listing is refused, never given a stale oid.
 *
 * The first of them is the whole wait before the first byte leaves (about 1 s per GB): it is hashed as a critical
 * pass (util/file-sha256.ts `schedule`: its reads on the thread pool, off the hashing thread). The others run beside
 * it as usual. Tried and dropped: the second hash on a thread at nice 10 (the first byte left 2× sooner under load,
 * but the second hash then starved behind the first upload, which ended alone, and the publish was no faster).
 */
import { sha256OnWorker } from "../util/file-sha256.js";
import type { PublishEvent } from "./events.js";
import { changedWhileHashed } from "./file-identity.js";
import type { LocalFile } from "./folder-files.js";
import { MAX_REGULAR_FILE_BYTES } from "./upload-session.js";

/** A hash started early, handed to the file's upload (upload-session.ts `UploadFileOptions.earlyHash`). */
export interface EarlyHash {
  /** The sha256 of the file as listed; rejects as an upload's own hash would (VERIFY_FAILED, UNREADABLE, abort). */
  readonly oid: Promise<string>;
  /** Bytes hashed so far. */
  readonly bytes: number;
  /** Where progress goes from now on (the upload, once it starts, reports it as its own). */
  onProgress: (bytes: number) => void;
}

/**
 * Start hashing the first `count` files over MAX_REGULAR_FILE_BYTES of `files`, in that order (pass them in the
 * order the uploads start, so that these are the files the upload pool would hash first). Progress is emitted as
 * `hashing` file events until the upload takes over. `signal` cancels the hashes not yet awaited (a failed run).
 * Keyed by local path.
 */
export function startEarlyHashes(files: readonly LocalFile[], count: number, signal: AbortSignal, emit: (e: PublishEvent) => void): Map<string, EarlyHash> {
  const out = new Map<string, EarlyHash>();
  for (const f of files) {
    if (out.size >= count) break;
    if (f.size <= MAX_REGULAR_FILE_BYTES) continue;
    const early = {
      oid: null as unknown as Promise<string>,
      bytes: 0,
      onProgress: (bytes: number) => emit({ type: "file", path: f.pathInRepo, state: "hashing", bytes, total: f.size }),
    };
    early.onProgress(0);
    early.oid = sha256OnWorker({
      path: f.localPath, ...f.identity, changed: changedWhileHashed, signal, ...(out.size === 0 && { schedule: "critical" as const }),
      onProgress: (bytes) => {
        early.bytes = bytes;
        early.onProgress(bytes);
      },
    });
    // Done is reported as soon as it is done, not when the upload gets to it; a hash never awaited (the run failed
    // first) must not be an unhandled rejection, and its upload sees the original.
    early.oid.then(
      () => {
        early.bytes = f.size;
        early.onProgress(f.size);
      },
      () => undefined,
    );
    out.set(f.localPath, early);
  }
  return out;
}
