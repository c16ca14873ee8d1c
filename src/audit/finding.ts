/**
 * Building findings, and the tensors a loader would use. Every finding code `audit` emits is listed here, once.
 */
import type { Finding, Severity } from "../report/page-data.js";
import type { AuditModel, AuditTensor, WeightFile, WeightFormat } from "./read-model.js";

/** Every code `audit` reports, stable across versions (a CI gate may match on them). */
export const AUDIT_CODES = [
  "NO_WEIGHTS",
  "WEIGHTS_UNREADABLE",
  "WEIGHTS_EMPTY",
  "CONFIG_MISSING",
  "CONFIG_INVALID",
  "CONFIG_DTYPE_MISSING",
  "CONFIG_DTYPE_UNKNOWN",
  "CONFIG_DTYPE_MISMATCH",
  "MIXED_FLOAT_DTYPES",
  "INDEX_INVALID",
  "INDEX_MISSING",
  "INDEX_SHARD_MISSING",
  "INDEX_TENSOR_ELSEWHERE",
  "INDEX_TENSOR_NOT_FOUND",
  "INDEX_TENSOR_UNLISTED",
  "INDEX_UNLISTED_FILE",
  "INDEX_TOTAL_SIZE",
  "TENSOR_STORED_TWICE",
  "WEIGHTS_IN_TWO_FORMATS",
  "FORMATS_DISAGREE",
  "TIED_HEAD_STORED",
  "TIED_HEAD_DIFFERS",
  "TIED_HEAD_MISSING",
  "PICKLE_ONLY",
  "PICKLE_UNSAFE_GLOBALS",
  "PICKLE_UNREADABLE",
  "NAN",
  "INF",
  "F16_OVERFLOW_SIGNATURE",
  "F16_CLAMP_SIGNATURE",
  "WOULD_OVERFLOW_F16",
  "ALL_ZERO",
  "SUBNORMAL_SHARE",
  "CARD_PRECISION_MISMATCH",
  "CARD_BASE_MODEL_MISMATCH",
] as const;

export type AuditCode = (typeof AUDIT_CODES)[number];

/** One finding; empty `tensors` / `files` are left out. */
export function finding(
  severity: Severity,
  code: AuditCode,
  message: string,
  action: string,
  about: { tensors?: readonly string[]; files?: readonly string[] } = {},
): Finding {
  return {
    severity,
    code,
    message,
    action,
    ...(about.tensors && about.tensors.length > 0 ? { tensors: about.tensors } : {}),
    ...(about.files && about.files.length > 0 ? { files: about.files } : {}),
  };
}

/** `n thing` / `n things`. */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? word : many}`;
}

/** A few names for a message: `a, b, c and 4 more`. */
export function someNames(names: readonly string[], max = 3): string {
  if (names.length <= max) return names.join(", ");
  return `${names.slice(0, max).join(", ")} and ${names.length - max} more`;
}

/**
 * The format a loader uses: transformers prefers safetensors whenever the folder has any, else the PyTorch
 * pickles. Null when there are no weight files.
 */
export function loadedFormat(model: AuditModel): WeightFormat | null {
  if (model.files.some((f) => f.format === "safetensors")) return "safetensors";
  if (model.files.some((f) => f.format === "torch")) return "torch";
  return null;
}

/** The weight files of the format a loader uses. */
export function loadedFiles(model: AuditModel): WeightFile[] {
  const format = loadedFormat(model);
  return model.files.filter((f) => f.format === format);
}

/** The tensors a loader sees, one per name (the first file that holds it wins). */
export function loadedTensors(model: AuditModel): AuditTensor[] {
  const seen = new Set<string>();
  const out: AuditTensor[] = [];
  for (const f of loadedFiles(model)) {
    for (const t of f.tensors) {
      if (seen.has(t.name)) continue;
      seen.add(t.name);
      out.push(t);
    }
  }
  return out;
}
