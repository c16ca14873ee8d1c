/** Messages between file-sha256.ts (the main thread) and sha256-worker.ts (one file hashed per job). */

export interface Sha256Job {
  path: string;
  /** The file as it was listed: another file (device, inode; null: not checked), size or mtime is refused, not hashed. */
  dev: number | null;
  ino: number | null;
  size: number;
  mtimeMs: number;
  /** A progress message is sent after every this many bytes. */
  progressBytes: number;
  /** How the pass shares the cores (file-sha256.ts `FileSha256Params.schedule`). */
  schedule: Sha256Schedule;
}

/** "normal": reads and hashes in turn on the worker's thread. "critical": the next piece is read on libuv's thread pool while this one is hashed. */
export type Sha256Schedule = "normal" | "critical";

export type Sha256Reply =
  | { type: "progress"; bytes: number }
  | { type: "done"; sha256: string }
  /** `changed`: the file is not the one the upload began with; else `message` says why it could not be read. */
  | { type: "error"; changed: boolean; message: string };
