/** Messages between the export and its hashing worker. */

/**
 * Digest byte ranges of a file. With `pass`, the ranges also continue that whole-file SHA-256 pass (see
 * RangeHasher.startPass): they come in file order, and every byte from where the pass stopped to the end of the
 * last range (the header before the first tensor, any gap) goes into the SHA-256, so the file is read once for both.
 */
export interface HashTask {
  readonly type: "ranges";
  readonly id: number;
  readonly path: string;
  readonly ranges: readonly { readonly start: number; readonly length: number }[];
  readonly pass?: number;
}

/** Finish a pass: hash the file's bytes after its last range up to `size`, and answer its SHA-256 and fstat. */
export interface PassEndTask {
  readonly type: "end";
  readonly id: number;
  readonly path: string;
  readonly pass: number;
  readonly size: number;
}

/** Forget a pass that will not be finished (its shard failed); no reply. */
export interface PassDropTask {
  readonly type: "drop";
  readonly pass: number;
}

export type HashRequest = HashTask | PassEndTask | PassDropTask;

/** The file a pass read, as fstat saw it on the last handle that read it. */
export interface PassFile {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

export type HashReply =
  | { readonly id: number; readonly digests: string[] }
  | { readonly id: number; readonly sha256: string; readonly file: PassFile }
  | { readonly id: number; readonly error: string };
