/** Progress events and the report of a publish. */

export type PublishPhase = "checking" | "connecting" | "uploading" | "committing" | "verifying" | "done";

export type FileState =
  /** The file's sha256 is being computed (bytes hashed so far); the LFS protocol needs it before the upload. */
  | "hashing"
  /** Bytes sent to LFS storage so far. */
  | "uploading"
  /** The file's bytes are stored on the Hub (sent now). */
  | "uploaded"
  /** The Hub already stored these bytes (an earlier run, or another file with the same content): nothing sent. */
  | "already-stored"
  /** A small file that travels inside the commit itself. */
  | "in-commit";

export type PublishEvent =
  | { type: "phase"; phase: PublishPhase }
  | { type: "file"; path: string; state: FileState; bytes: number; total: number }
  /** Overall upload progress: bytes of all files that are done or in flight; rate and ETA are the caller's. */
  | { type: "overall"; bytes: number; total: number; files: number; filesTotal: number }
  | { type: "retry"; attempt: number; delayMs: number; reason: string; method: string; path: string };

export interface PublishedFile {
  path: string;
  size: number;
  /** sha256 of the local bytes. */
  sha256: string;
  lfs: boolean;
  /** False when the Hub already had the bytes and nothing was sent. */
  sent: boolean;
}

export interface PublishReport {
  repoId: string;
  endpoint: string;
  revision: string;
  /** The commit made, or (when `committed` is false) the revision's commit that already held every file. */
  commit: { oid: string; url: string };
  /**
   * False when nothing was committed because the revision already held every file byte for byte (re-publishing an
   * unchanged folder makes no empty commit); `summary` then reads `nothing to publish: ...`.
   */
  committed: boolean;
  pullRequestUrl: string | null;
  /** True when this run created the repository. */
  created: boolean;
  private: boolean;
  files: PublishedFile[];
  /** Bytes sent to LFS storage in this run. */
  bytesSent: number;
  /** Safetensors files whose remote sha256 and header match the local ones. */
  shardsBitExact: number;
  /** config.json spelling of the dominant floating dtype, or null. */
  dtype: string | null;
  /** True when the folder check failed and --force published it anyway. */
  forced: boolean;
  /** Problems the folder check found (published anyway only with force). */
  problems: string[];
  /** Files in the remote revision that the folder does not have (left from earlier commits). */
  extraRemoteFiles: string[];
  /** Files of the revision the commit deleted (`export --push --replace-weights`: the weight files it superseded). */
  deleted: string[];
  /** Pickle checkpoints left in the revision beside the new safetensors files (`--replace-weights` deletes them). */
  keptPickles: string[];
  /**
   * `export --push` only, when it resumed an interrupted run: shards already on the Hub from that run (not read,
   * written nor sent again), of the shards planned.
   */
  resumed?: { shards: number; of: number };
  /** One line, e.g. `published acme/model@<commit>: 7 files, 3 shards verified on the Hub, dtype bfloat16`. */
  summary: string;
}
