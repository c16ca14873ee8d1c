/**
 * The one error class for everything a user can get wrong or a file can hold wrong.
 * The CLI prints `truecast: <message>` and exits 1 (2 for a usage error); stack traces only with --debug.
 * Messages say what is wrong (naming the file and the tensor) and, where there is one, what to do.
 */
export type ErrorCode =
  // usage
  | "USAGE"
  // files and folders
  | "NOT_FOUND"
  | "UNREADABLE"
  | "OUTPUT_EXISTS"
  | "OUTPUT_OVERLAP"
  | "LINK_OUTSIDE"
  | "NO_SPACE"
  | "UNKNOWN_SOURCE"
  // safetensors rules (checked in this order)
  | "ST_TRUNCATED"
  | "ST_HEADER_TOO_LARGE"
  | "ST_HEADER_UTF8"
  | "ST_HEADER_JSON"
  | "ST_DUPLICATE_KEY"
  | "ST_BAD_ENTRY"
  | "ST_UNKNOWN_DTYPE"
  | "ST_METADATA"
  | "ST_SHAPE_OVERFLOW"
  | "ST_BYTE_LENGTH"
  | "ST_NOT_CONTIGUOUS"
  | "ST_FILE_SIZE"
  // sharded folders
  | "INDEX_INVALID"
  | "INDEX_MISSING_SHARD"
  | "INDEX_MISSING_TENSOR"
  | "INDEX_MISMATCH"
  | "DUPLICATE_TENSOR"
  // dtype engine
  | "OVERFLOW"
  | "UNSUPPORTED_DTYPE"
  // pickles / torch
  | "PICKLE_FORBIDDEN"
  | "PICKLE_INVALID"
  | "PICKLE_BUDGET"
  | "ZIP_INVALID"
  | "TORCH_LEGACY"
  | "TORCH_INVALID"
  // config / model files
  | "CONFIG_INVALID"
  | "BASE_NOT_FOUND"
  // LoRA
  | "ADAPTER_INVALID"
  | "ADAPTER_UNSUPPORTED"
  | "MERGE_NONFINITE"
  /** A square weight whose layout (nn.Linear or Conv1D) neither the base architecture nor the adapter config tells. */
  | "LORA_LAYOUT_UNKNOWN"
  // export/verify
  | "VERIFY_FAILED"
  // hub
  | "HUB_AUTH"
  | "HUB_FORBIDDEN"
  | "HUB_REPO_ID"
  | "HUB_NETWORK"
  | "HUB_SERVER"
  | "HUB_VERIFY"
  /** A Hub repo, or a revision of it, that does not exist or that the token cannot see. */
  | "HUB_NOT_FOUND"
  /** The Hub kept answering 429 past what truecast waits; the message says when to retry. */
  | "HUB_RATE_LIMITED"
  /** HF_HUB_OFFLINE is set and the local cache has no snapshot of what was asked. */
  | "HUB_OFFLINE"
  | "PUBLISH_REFUSED"
  | "INTERNAL";

/** A user-facing error: a stable `code` (see ErrorCode) and a one-line message saying what is wrong and what to do. */
export class TruecastError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TruecastError";
    this.code = code;
  }
}

/** True for errors truecast raised on purpose (as opposed to bugs and system errors). */
export function isTruecastError(e: unknown): e is TruecastError {
  return e instanceof TruecastError;
}
