import { TruecastError } from "../errors.js";
import { CONFIG_FILE, parseSideJson } from "../formats/side-file.js";
import { setTopLevelMembers, topLevelMembers } from "../formats/json-edit.js";
import { configName, isFloatDType, parseFloatDType, type DType, type FloatDType } from "../dtype/table.js";

/** The config.json keys that state the weights' dtype: transformers 4.x reads `torch_dtype`, 5.x reads `dtype` first. */
export const CONFIG_DTYPE_KEYS = ["torch_dtype", "dtype"] as const;

export interface DtypeCensus {
  /** Bytes per dtype, every dtype. */
  readonly bytesByDtype: ReadonlyMap<DType, number>;
  /** The floating dtype holding the most bytes, or null when no tensor is floating. */
  readonly dominant: FloatDType | null;
  /** More than one floating dtype holds bytes. */
  readonly mixed: boolean;
}

/** Measure which dtypes hold the bytes. Ties go to the dtype seen first. */
export function censusDtypes(tensors: Iterable<{ dtype: DType; byteLength: number }>): DtypeCensus {
  const bytesByDtype = new Map<DType, number>();
  for (const t of tensors) bytesByDtype.set(t.dtype, (bytesByDtype.get(t.dtype) ?? 0) + t.byteLength);
  let dominant: FloatDType | null = null;
  let best = -1;
  let floats = 0;
  for (const [d, n] of bytesByDtype) {
    if (!isFloatDType(d)) continue;
    floats++;
    if (n > best) {
      best = n;
      dominant = d;
    }
  }
  return { bytesByDtype, dominant, mixed: floats > 1 };
}

export interface ConfigClaim {
  readonly key: (typeof CONFIG_DTYPE_KEYS)[number];
  /** The value as written in config.json. */
  readonly value: unknown;
  /** The dtype it names, or null when it names none truecast knows ("auto", a typo). */
  readonly dtype: FloatDType | null;
}

function parseConfig(text: string, file: string): Record<string, unknown> {
  const parsed = parseSideJson(text, file, CONFIG_FILE);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new TruecastError("CONFIG_INVALID", `${file} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/** What config.json says the dtype is, per key present. */
export function configClaims(text: string, file = "config.json"): ConfigClaim[] {
  const cfg = parseConfig(text, file);
  const claims: ConfigClaim[] = [];
  for (const key of CONFIG_DTYPE_KEYS) {
    if (!(key in cfg)) continue;
    const value = cfg[key];
    claims.push({ key, value, dtype: typeof value === "string" ? parseFloatDType(value) : null });
  }
  return claims;
}

/** Read a boolean-ish key such as `tie_word_embeddings` (transformers' default for it is true). */
export function configFlag(text: string, key: string, fallback: boolean, file = "config.json"): boolean {
  const v = parseConfig(text, file)[key];
  return typeof v === "boolean" ? v : fallback;
}

/**
 * Set both dtype keys to `dtype` by editing the text: only their values change (every occurrence, if a key is
 * duplicated) and every other byte stays, so `2.0`, `1e-05`, key order, indentation and escapes survive. A
 * missing key is inserted in key order when the config is sorted (as transformers writes it), else beside its
 * sibling dtype key, else last. Returns `text` itself when both keys already say `dtype`, or when `dtype` is null.
 * With `subConfigs` (when every floating tensor written has that one dtype), sub-configs' dtype keys follow too.
 */
export function rewriteConfigDtype(text: string, dtype: FloatDType | null, file = "config.json", subConfigs = true): string {
  if (dtype === null) return text;
  parseConfig(text, file);
  const value = JSON.stringify(configName(dtype));
  const top = setTopLevelMembers(
    text,
    CONFIG_DTYPE_KEYS.map((key) => ({ key, json: value, siblings: CONFIG_DTYPE_KEYS.filter((k) => k !== key) })),
  );
  return subConfigs ? rewriteSubConfigDtypes(top, value) : top;
}

/**
 * The dtype keys of sub-configs (`text_config.torch_dtype`, `vision_config.dtype` of multimodal configs) that state
 * a dtype (a string) get `value` too, so that they do not contradict the weights; a key that is null or absent stays
 * so (transformers writes null for a sub-config it did not cast, and 4.44 loads by the top-level key alone). Only the
 * values change; every other byte stays.
 */
function rewriteSubConfigDtypes(text: string, value: string): string {
  const top = topLevelMembers(text);
  if (top === null) return text;
  const edits: Array<{ start: number; end: number }> = [];
  for (const m of top.members) {
    if (!m.key.endsWith("_config") || text.charCodeAt(m.valueStart) !== 0x7b) continue;
    const sub = topLevelMembers(text.slice(m.valueStart, m.valueEnd));
    for (const s of sub?.members ?? []) {
      if (!(CONFIG_DTYPE_KEYS as readonly string[]).includes(s.key) || text.charCodeAt(m.valueStart + s.valueStart) !== 0x22) continue;
      edits.push({ start: m.valueStart + s.valueStart, end: m.valueStart + s.valueEnd });
    }
  }
  let out = text;
  for (const e of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + value + out.slice(e.end);
  return out;
}
