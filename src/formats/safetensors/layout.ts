/**
 * The writer's side of the header, byte for byte as the reference writer (`prepare` in
 * huggingface/safetensors `tensor.rs`) produces it: tensors ordered by dtype (the order of the `Dtype` enum,
 * last first: U64, I64, F64, C64, F32, ... BOOL), then by name; offsets contiguous from 0; compact JSON with
 * `__metadata__` first; padded with spaces to a multiple of 8; an 8-byte little-endian length in front.
 */
import { TruecastError } from "../../errors.js";
import { DTYPES, byteLengthOf, type DType } from "../../dtype/table.js";
import { checkDim, jsonString, WRITING } from "./header-writer.js";
import { checkLayout, describeShape, type RawEntry } from "./rules.js";
import {
  HEADER_ALIGNMENT,
  HEADER_LENGTH_PREFIX,
  MAX_HEADER_SIZE,
  METADATA_KEY,
  type SafetensorsEntry,
} from "./spec.js";

/** What the writer knows of a tensor before it has a place in the file. */
export interface TensorToLayout {
  name: string;
  dtype: DType;
  shape: readonly number[];
  byteLength: number;
}

/**
 * Orders tensors as the reference writer does and gives each its byte range. The reference sorts by its
 * `Dtype` enum, declared in the same order as {@link DTYPES} (roughly increasing alignment), from the last
 * variant to the first, then by name in byte order of UTF-8 (= code point order).
 */
export function layoutTensors(tensors: readonly TensorToLayout[]): SafetensorsEntry[] {
  const rank = (d: DType): number => DTYPES.indexOf(d);
  const ordered = [...tensors].sort((a, b) => rank(b.dtype) - rank(a.dtype) || compareCodePoints(a.name, b.name));
  const out: SafetensorsEntry[] = [];
  const seen = new Set<string>();
  let offset = 0;
  for (const t of ordered) {
    if (seen.has(t.name)) throw new TruecastError("DUPLICATE_TENSOR", `${WRITING}: two tensors are named "${t.name}"`);
    seen.add(t.name);
    const need = byteLengthOf(t.dtype, t.shape.reduce((n, d) => n * BigInt(checkDim(t.name, d)), 1n));
    if (need === null || need !== BigInt(t.byteLength)) {
      throw new TruecastError(
        "ST_BYTE_LENGTH",
        `${WRITING}: tensor "${t.name}" has ${t.byteLength} bytes but shape ${describeShape(t.shape)} of ${t.dtype} ` +
          `needs ${need ?? "a whole number of bytes"}`,
      );
    }
    const end = offset + t.byteLength;
    if (!Number.isSafeInteger(end)) {
      throw new TruecastError("INTERNAL", `${WRITING}: tensors add up to more than 2^53 - 1 bytes`);
    }
    out.push({ name: t.name, dtype: t.dtype, shape: [...t.shape], begin: offset, end });
    offset = end;
  }
  return out;
}

/**
 * The first 8 + N bytes of a safetensors file: length prefix and space-padded JSON, entries in the order
 * given. The entries must satisfy the same rules the reader enforces (checked here with the reader's code).
 */
export function serializeHeader(
  entries: readonly SafetensorsEntry[],
  metadata: Readonly<Record<string, string>> | null,
): Uint8Array {
  const raw = entries.map(toRaw);
  const names = new Set<string>();
  for (const e of raw) {
    if (names.has(e.name)) {
      throw new TruecastError("ST_DUPLICATE_KEY", `${WRITING}: tensor "${e.name}" appears twice`);
    }
    names.add(e.name);
  }
  checkLayout({ entries: raw, file: WRITING });

  const parts: string[] = [];
  if (metadata !== null) {
    const fields = Object.entries(metadata).map(([k, v]) => `${jsonString(k)}:${jsonString(v)}`);
    parts.push(`${jsonString(METADATA_KEY)}:{${fields.join(",")}}`);
  }
  for (const e of entries) {
    parts.push(
      `${jsonString(e.name)}:{"dtype":${jsonString(e.dtype)},"shape":[${e.shape.join(",")}],` +
        `"data_offsets":[${e.begin},${e.end}]}`,
    );
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const size = Math.ceil(json.length / HEADER_ALIGNMENT) * HEADER_ALIGNMENT;
  if (size > MAX_HEADER_SIZE) {
    throw new TruecastError(
      "ST_HEADER_TOO_LARGE",
      `${WRITING}: the header would be ${size} bytes, over the reference reader's limit of ${MAX_HEADER_SIZE}; ` +
        "split the tensors into more shards",
    );
  }
  const out = new Uint8Array(HEADER_LENGTH_PREFIX + size).fill(0x20, HEADER_LENGTH_PREFIX + json.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(size), true);
  out.set(json, HEADER_LENGTH_PREFIX);
  return out;
}

/**
 * Compares strings by Unicode code point, which is the byte order of their UTF-8 encodings (Rust's
 * `String` order) and Python's `str` order. Plain `<` compares UTF-16 code units and differs from it when a
 * surrogate pair meets a character from U+E000 to U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Move surrogates (D800–DFFF, the code points above FFFF) past E000–FFFF.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x < 0xe000 ? x + 0x2000 : x - 0x800;
      y = y < 0xe000 ? y + 0x2000 : y - 0x800;
    }
    return x - y;
  }
  return a.length - b.length;
}

function toRaw(e: SafetensorsEntry): RawEntry {
  if (e.name === METADATA_KEY) {
    throw new TruecastError("ST_BAD_ENTRY", `${WRITING}: a tensor may not be named "${METADATA_KEY}"`);
  }
  for (const v of [e.begin, e.end]) {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new TruecastError("ST_BAD_ENTRY", `${WRITING}: tensor "${e.name}" has offset ${v}, not a byte position`);
    }
  }
  if (e.begin > e.end) {
    throw new TruecastError("ST_BAD_ENTRY", `${WRITING}: tensor "${e.name}" ends before it begins`);
  }
  return {
    name: e.name,
    dtype: e.dtype,
    shape: e.shape.map((d) => BigInt(checkDim(e.name, d))),
    begin: BigInt(e.begin),
    end: BigInt(e.end),
  };
}
