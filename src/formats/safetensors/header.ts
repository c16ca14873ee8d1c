/**
 * The safetensors header: an 8-byte little-endian length N, then N bytes of UTF-8 JSON describing the
 * tensors, then the data buffer. Every rule is checked here, in the order the reference reader
 * (huggingface/safetensors `tensor.rs`, `read_metadata` then `validate`) checks them, with one error code
 * per rule. The writer's side (layout and serialization) lives in `layout.ts` and uses the same validator.
 */
import { TruecastError } from "../../errors.js";
import { scanHeader } from "./header-entries.js";
import { checkTableLayout, checkTableShapes } from "./rules.js";
import { HEADER_LENGTH_PREFIX, MAX_HEADER_SIZE, type SafetensorsEntry, type SafetensorsHeader } from "./spec.js";
import { isValidUtf8 } from "./strict-json.js";
import type { TensorTable } from "./tensor-table.js";

export {
  HEADER_ALIGNMENT,
  HEADER_LENGTH_PREFIX,
  MAX_HEADER_SIZE,
  MAX_METADATA_ENTRIES,
  MAX_TENSOR_RANK,
  METADATA_KEY,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from "./spec.js";
export { layoutTensors, serializeHeader, type TensorToLayout } from "./layout.js";
export { describeShape } from "./rules.js";
export { TensorTable } from "./tensor-table.js";

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
  const { table, metadata } = readEntries(headerBytes, file);
  return checkedHeader({ table, metadata, headerSize, fileSize, file });
}

/**
 * The checks of a header whose JSON was read into `table` (tensors in header order) and `metadata`: the layout
 * (contiguity, overflow, byte lengths), then the file size.
 */
export function checkedHeader(
  params: FileLabel & { table: TensorTable; metadata: Record<string, string> | null; headerSize: number; fileSize: number },
): SafetensorsHeader {
  const { table, metadata, headerSize, fileSize, file } = params;
  const sorted = checkTableLayout(table, file);
  const dataStart = HEADER_LENGTH_PREFIX + headerSize;
  const last = sorted.count - 1;
  checkFileSize({ file, dataStart, dataEnd: last < 0 ? 0n : sorted.raw(last).end, fileSize });
  checkTableShapes(sorted, file);
  return new ParsedHeader(headerSize, dataStart, sorted, metadata);
}

/** A checked header; `entries` is made from the table on first use. */
class ParsedHeader implements SafetensorsHeader {
  private made: SafetensorsEntry[] | null = null;
  constructor(
    readonly headerSize: number,
    readonly dataStart: number,
    readonly tensors: TensorTable,
    readonly metadata: Record<string, string> | null,
  ) {}

  get entries(): SafetensorsEntry[] {
    this.made ??= Array.from({ length: this.tensors.count }, (_, i) => this.tensors.entry(i));
    return this.made;
  }
}

/** Checks the header's UTF-8 and reads its JSON into a table and metadata, refusing what breaks a rule. */
function readEntries(
  headerBytes: Uint8Array,
  file: string,
): { table: TensorTable; metadata: Record<string, string> | null } {
  // A leading BOM stays in the text (as with TextDecoder's ignoreBOM), so that the JSON reader refuses it as serde does.
  if (!isValidUtf8(headerBytes)) {
    throw new TruecastError("ST_HEADER_UTF8", `${file}: the header is not valid UTF-8; the file is damaged`);
  }
  const read = scanHeader(headerBytes, file);
  if ("scan" in read) {
    if (!read.scan.ok) throw read.scan.problem;
    return read.scan;
  }
  const parsed = read.json;
  if (parsed.problem === "duplicate") {
    const where = parsed.path.length === 0 ? "at the top level" : `inside "${parsed.path.join(".")}"`;
    throw new TruecastError(
      "ST_DUPLICATE_KEY",
      `${file}: the header names "${parsed.key}" twice ${where}; readers disagree on which one wins, so the file is refused`,
    );
  }
  throw new TruecastError(
    "ST_HEADER_JSON",
    `${file}: the header is not valid JSON (${parsed.detail} at character ${parsed.offset}); the file is damaged`,
  );
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
