/**
 * The safetensors header: an 8-byte little-endian length N, then N bytes of UTF-8 JSON describing the
 * tensors, then the data buffer. Every rule is checked here, in the order the reference reader
 * (huggingface/safetensors `tensor.rs`, `read_metadata` then `validate`) checks them, with one error code
 * per rule. The writer's side (layout and serialization) lives in `layout.ts` and uses the same validator.
 */
import { TruecastError } from "../../errors.js";
import { DTYPES, isDType } from "../../dtype/table.js";
import { describeKind, jsonUnsignedInteger, parseStrictJson, type JsonValue } from "./strict-json.js";
import { checkLayout, toEntries, type RawEntry } from "./rules.js";
import { HEADER_LENGTH_PREFIX, MAX_HEADER_SIZE, METADATA_KEY, type SafetensorsHeader } from "./spec.js";

export {
  HEADER_ALIGNMENT,
  HEADER_LENGTH_PREFIX,
  MAX_HEADER_SIZE,
  METADATA_KEY,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from "./spec.js";
export { layoutTensors, serializeHeader, type TensorToLayout } from "./layout.js";
export { describeShape } from "./rules.js";

/** Where a file's problems are reported: the file name as the user should see it. */
interface FileLabel {
  /** The file, for messages. */
  file: string;
}

const TRUNCATED_ADVICE = "it looks truncated: re-download or re-copy it";

/**
 * Steps 1–3 of reading: the first 8 bytes give N, which must be within {@link MAX_HEADER_SIZE} and within the
 * file. Returns N, so the caller knows how many bytes to read next.
 */
export function readHeaderSize(params: FileLabel & { prefix: Uint8Array; fileSize: number }): number {
  const { prefix, fileSize, file } = params;
  if (prefix.length < HEADER_LENGTH_PREFIX || fileSize < HEADER_LENGTH_PREFIX) {
    const have = Math.min(prefix.length, fileSize);
    throw new TruecastError(
      "ST_TRUNCATED",
      `${file}: only ${have} bytes, shorter than the 8-byte length prefix every safetensors file starts with; ${TRUNCATED_ADVICE}`,
    );
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, HEADER_LENGTH_PREFIX);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) {
    throw new TruecastError(
      "ST_HEADER_TOO_LARGE",
      `${file}: header length ${n} is over the limit of ${MAX_HEADER_SIZE} bytes; ` +
        "this is not a safetensors file, or its first 8 bytes are damaged",
    );
  }
  const size = Number(n);
  if (HEADER_LENGTH_PREFIX + size > fileSize) {
    throw new TruecastError(
      "ST_TRUNCATED",
      `${file}: the header claims ${size} bytes but the file has only ${fileSize - HEADER_LENGTH_PREFIX} after the ` +
        `length prefix; ${TRUNCATED_ADVICE}`,
    );
  }
  return size;
}

/**
 * Validates a whole header: the prefix (steps 1–3, again), then the N header bytes (UTF-8, JSON, duplicate
 * keys, entries, dtypes, metadata), then the layout (contiguity, overflow, byte lengths), then the file size.
 */
export function parseHeader(
  params: FileLabel & { prefix: Uint8Array; headerBytes: Uint8Array; fileSize: number },
): SafetensorsHeader {
  const { headerBytes, fileSize, file } = params;
  const headerSize = readHeaderSize(params);
  if (headerBytes.length !== headerSize) {
    throw new TruecastError(
      "ST_TRUNCATED",
      `${file}: read ${headerBytes.length} header bytes of ${headerSize}; ${TRUNCATED_ADVICE}`,
    );
  }
  const root = decodeJson(headerBytes, file);
  const { entries, metadata } = readEntries(root, file);
  const sorted = checkLayout({ entries, file });
  const dataStart = HEADER_LENGTH_PREFIX + headerSize;
  checkFileSize({ file, dataStart, dataEnd: sorted.at(-1)?.end ?? 0n, fileSize });
  return { headerSize, dataStart, entries: toEntries(sorted, file), metadata };
}

function decodeJson(headerBytes: Uint8Array, file: string): Extract<JsonValue, { kind: "object" }> {
  let text: string;
  try {
    // ignoreBOM keeps a leading BOM in the text, so that the JSON reader refuses it as serde does.
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch (cause) {
    throw new TruecastError("ST_HEADER_UTF8", `${file}: the header is not valid UTF-8; the file is damaged`, { cause });
  }
  const parsed = parseStrictJson(text);
  if (!parsed.ok && parsed.problem === "duplicate") {
    const where = parsed.path.length === 0 ? "at the top level" : `inside "${parsed.path.join(".")}"`;
    throw new TruecastError(
      "ST_DUPLICATE_KEY",
      `${file}: the header names "${parsed.key}" twice ${where}; readers disagree on which one wins, so the file is refused`,
    );
  }
  if (!parsed.ok) {
    throw new TruecastError(
      "ST_HEADER_JSON",
      `${file}: the header is not valid JSON (${parsed.detail} at character ${parsed.offset}); the file is damaged`,
    );
  }
  if (parsed.value.kind !== "object") {
    throw new TruecastError("ST_HEADER_JSON", `${file}: the header is JSON but not an object of tensors`);
  }
  return parsed.value;
}

/** Checks and converts each tensor entry and the metadata, in the header's order. */
function readEntries(
  root: Extract<JsonValue, { kind: "object" }>,
  file: string,
): { entries: RawEntry[]; metadata: Record<string, string> | null } {
  const entries: RawEntry[] = [];
  let metadata: Record<string, string> | null = null;
  for (const [name, value] of root.entries) {
    if (name === METADATA_KEY) metadata = readMetadata(value, file);
    else entries.push(readEntry(name, value, file));
  }
  return { entries, metadata };
}

const U64_MAX = (1n << 64n) - 1n;

function readEntry(name: string, value: JsonValue, file: string): RawEntry {
  const bad = (what: string): never => {
    throw new TruecastError("ST_BAD_ENTRY", `${file}: tensor "${name}" ${what}; the header is damaged`);
  };
  if (value.kind !== "object") return bad("is not an object with dtype, shape and data_offsets");
  const field = (key: string): JsonValue | undefined => value.entries.find(([k]) => k === key)?.[1];

  const dtypeValue = field("dtype");
  if (dtypeValue === undefined) return bad('has no "dtype"');
  if (dtypeValue.kind !== "string") return bad('has a "dtype" that is not a string');
  const dtype = dtypeValue.value;
  if (!isDType(dtype)) {
    throw new TruecastError(
      "ST_UNKNOWN_DTYPE",
      `${file}: tensor "${name}" has dtype "${dtype}", which safetensors does not define (known: ${DTYPES.join(", ")})`,
    );
  }

  const shapeValue = field("shape");
  if (shapeValue === undefined) return bad('has no "shape"');
  if (shapeValue.kind !== "array") return bad('has a "shape" that is not a list');
  const shape = shapeValue.items.map((d) => u64(d) ?? bad(`has a shape dimension that is not an integer from 0 to 2^64-1`));

  const offsetsValue = field("data_offsets");
  if (offsetsValue === undefined) return bad('has no "data_offsets"');
  if (offsetsValue.kind !== "array" || offsetsValue.items.length !== 2) return bad('has "data_offsets" that are not [begin, end]');
  const [b, e] = offsetsValue.items.map((o) => u64(o) ?? bad("has data_offsets that are not integers from 0 to 2^64-1"));
  if (b === undefined || e === undefined) return bad('has "data_offsets" that are not [begin, end]');
  if (b > e) return bad(`has data_offsets [${b}, ${e}] that end before they begin`);
  return { name, dtype, shape, begin: b, end: e };
}

function u64(v: JsonValue): bigint | null {
  const n = jsonUnsignedInteger(v);
  return n !== null && n <= U64_MAX ? n : null;
}

function readMetadata(value: JsonValue, file: string): Record<string, string> | null {
  if (value.kind === "null") return null;
  if (value.kind !== "object") {
    throw new TruecastError("ST_METADATA", `${file}: "${METADATA_KEY}" must be an object of strings, found ${describeKind(value)}`);
  }
  const out: Record<string, string> = {};
  for (const [key, v] of value.entries) {
    if (v.kind !== "string") {
      throw new TruecastError(
        "ST_METADATA",
        `${file}: "${METADATA_KEY}" entry "${key}" is ${describeKind(v)}, but safetensors metadata values must be strings`,
      );
    }
    // defineProperty, so that a key such as "__proto__" stays an ordinary own key.
    Object.defineProperty(out, key, { value: v.value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function checkFileSize(params: { file: string; dataStart: number; dataEnd: bigint; fileSize: number }): void {
  const { file, dataStart, dataEnd } = params;
  const expected = BigInt(dataStart) + dataEnd;
  const fileSize = BigInt(params.fileSize);
  if (fileSize < expected) {
    throw new TruecastError(
      "ST_TRUNCATED",
      `${file}: the header describes ${expected} bytes but the file has ${fileSize} (${expected - fileSize} missing); ` +
        TRUNCATED_ADVICE,
    );
  }
  if (fileSize > expected) {
    throw new TruecastError(
      "ST_FILE_SIZE",
      `${file}: ${fileSize - expected} bytes follow the last tensor (the header describes ${expected} bytes, the file has ` +
        `${fileSize}); safetensors files may not carry trailing data`,
    );
  }
}
