/**
 * The writer's side of a header for any number of tensors: the reference writer's order and offsets as a
 * {@link TensorTable}, and the header's bytes as a stream of chunks of about 1 MB, so that a million tensors never
 * become a million objects or one 100 MB buffer. Byte for byte what {@link serializeHeader} writes.
 */
import { TruecastError } from "../../errors.js";
import { DTYPES, byteLengthOf, type DType } from "../../dtype/table.js";
import { compareNames, NameIndex, NameRefs, type NameColumn, type NameRef } from "./name-table.js";
import { checkTableLayout, describeShape } from "./rules.js";
import { HEADER_ALIGNMENT, HEADER_LENGTH_PREFIX, MAX_HEADER_SIZE, METADATA_KEY } from "./spec.js";
import { TensorTable } from "./tensor-table.js";

/** How the writer's messages name the file it has not written yet. */
export const WRITING = "safetensors header being written";

/** Bytes per chunk of a streamed header. */
const CHUNK = 1 << 20;

/** What the writer needs of tensor `i` before it has a place in the file. */
export interface LayoutItem {
  /** The name, or where its UTF-8 bytes already are (then the table points at them instead of copying them). */
  readonly name: string | NameRef;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly byteLength: number;
}

const METADATA_BYTES = Buffer.from(METADATA_KEY, "utf8");

/**
 * Orders `count` tensors as the reference writer does (by dtype, the `Dtype` enum's last variant first, then by
 * name in code point order) and gives each its byte range. Returns the table in file order and, for each of its
 * rows, the index of the item it came from. `item(i)` is asked twice per tensor (to check, then to place it). Names
 * given by reference stay where they are: the table's names point at them.
 */
export function layoutTable(count: number, item: (i: number) => LayoutItem): { table: TensorTable<NameRefs>; from: Uint32Array } {
  const names = new NameRefs(count);
  const index = new NameIndex(names, count);
  const ranks = new Uint8Array(count);
  const lengths = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const t = item(i);
    if (typeof t.name === "string") {
      checkName(t.name);
      names.addString(t.name);
    } else {
      // Bytes kept by a reader are valid UTF-8 already; only the metadata key is no tensor's name.
      names.addRef(t.name.names, t.name.row);
      if (names.byteLength(i) === METADATA_BYTES.length && METADATA_BYTES.equals(names.view(i))) checkName(METADATA_KEY);
    }
    if (index.add(i) >= 0) throw new TruecastError("DUPLICATE_TENSOR", `${WRITING}: two tensors are named "${names.name(i)}"`);
    ranks[i] = DTYPES.indexOf(t.dtype);
    lengths[i] = t.byteLength;
    const need = byteLengthOf(t.dtype, t.shape.reduce((n, d) => n * BigInt(checkDim(names.name(i), d)), 1n));
    if (need === null || need !== BigInt(t.byteLength)) {
      throw new TruecastError(
        "ST_BYTE_LENGTH",
        `${WRITING}: tensor "${names.name(i)}" has ${t.byteLength} bytes but shape ${describeShape(t.shape)} of ${t.dtype} ` +
          `needs ${need ?? "a whole number of bytes"}`,
      );
    }
  }
  const order = Array.from({ length: count }, (_, i) => i).sort(
    (a, b) => (ranks[b] as number) - (ranks[a] as number) || compareNames(names, a, names, b),
  );
  const table = new TensorTable(new NameRefs(count), count);
  const from = new Uint32Array(count);
  let offset = 0;
  order.forEach((i, k) => {
    from[k] = i;
    const end = offset + (lengths[i] as number);
    if (!Number.isSafeInteger(end)) throw new TruecastError("INTERNAL", `${WRITING}: tensors add up to more than 2^53 - 1 bytes`);
    table.names.addRef(names, i);
    table.pushRow({ dtype: DTYPES[ranks[i] as number] as DType, shape: item(i).shape, begin: offset, end });
    offset = end;
  });
  return { table, from };
}

/** A header ready to be written: its size (8 + N) and its bytes, chunk by chunk. */
export interface HeaderBytes {
  /** The length prefix plus the padded JSON. */
  readonly size: number;
  /** The bytes, in chunks of about 1 MB (each chunk fresh). */
  chunks(): Generator<Uint8Array>;
}

/**
 * The header of `table` (tensors in file order, offsets contiguous) with `metadata` first, checked with the
 * reader's rules; refused past the reference reader's size limit.
 */
export function headerBytes(table: TensorTable<NameColumn>, metadata: Readonly<Record<string, string>> | null): HeaderBytes {
  checkTableLayout(table, WRITING);
  const head = metadata === null ? "" : `${jsonString(METADATA_KEY)}:{${Object.entries(metadata).map(([k, v]) => `${jsonString(k)}:${jsonString(v)}`).join(",")}}`;
  let json = 2 + Buffer.byteLength(head, "utf8");
  for (let i = 0; i < table.count; i++) json += (i > 0 || head !== "" ? 1 : 0) + nameLength(table, i) + 1 + Buffer.byteLength(fields(table, i), "latin1");
  const padded = Math.ceil(json / HEADER_ALIGNMENT) * HEADER_ALIGNMENT;
  if (padded > MAX_HEADER_SIZE) {
    throw new TruecastError(
      "ST_HEADER_TOO_LARGE",
      `${WRITING}: the header would be ${padded} bytes, over the reference reader's limit of ${MAX_HEADER_SIZE}; ` +
        "split the tensors into more shards",
    );
  }
  return {
    size: HEADER_LENGTH_PREFIX + padded,
    *chunks() {
      let buf = Buffer.allocUnsafeSlow(CHUNK);
      let used = 0;
      const put = function* (bytes: Uint8Array): Generator<Uint8Array> {
        let from = 0;
        while (from < bytes.length) {
          const n = Math.min(bytes.length - from, CHUNK - used);
          buf.set(bytes.subarray(from, from + n), used);
          used += n;
          from += n;
          if (used === CHUNK) {
            yield buf;
            buf = Buffer.allocUnsafeSlow(CHUNK);
            used = 0;
          }
        }
      };
      const prefix = Buffer.alloc(HEADER_LENGTH_PREFIX);
      prefix.writeBigUInt64LE(BigInt(padded), 0);
      yield* put(prefix);
      yield* put(Buffer.from(`{${head}`, "utf8"));
      for (let i = 0; i < table.count; i++) {
        if (i > 0 || head !== "") yield* put(COMMA);
        yield* put(nameJson(table, i));
        yield* put(Buffer.from(`:${fields(table, i)}`, "latin1"));
      }
      yield* put(Buffer.from("}".padEnd(1 + padded - json, " "), "latin1"));
      if (used > 0) yield buf.subarray(0, used);
    },
  };
}

const COMMA = Buffer.from(",");

/** `{"dtype":...,"shape":[...],"data_offsets":[b,e]}` of tensor `i` (ASCII). */
function fields(table: TensorTable<NameColumn>, i: number): string {
  return `{"dtype":${JSON.stringify(table.dtype(i))},"shape":[${table.shapeText(i, ",")}],"data_offsets":[${table.begin(i)},${table.end(i)}]}`;
}

/** Whether the name's bytes need JSON escapes (", \ or a control character). */
function needsEscape(table: TensorTable<NameColumn>, i: number): boolean {
  const v = table.names.view(i);
  for (let p = 0; p < v.length; p++) {
    const c = v[p] as number;
    if (c < 0x20 || c === 0x22 || c === 0x5c) return true;
  }
  return false;
}

function nameLength(table: TensorTable<NameColumn>, i: number): number {
  return needsEscape(table, i) ? Buffer.byteLength(jsonString(table.name(i)), "utf8") : table.names.byteLength(i) + 2;
}

function nameJson(table: TensorTable<NameColumn>, i: number): Uint8Array {
  if (needsEscape(table, i)) return Buffer.from(jsonString(table.name(i)), "utf8");
  const v = table.names.view(i);
  const out = Buffer.allocUnsafe(v.length + 2);
  out[0] = 0x22;
  out.set(v, 1);
  out[v.length + 1] = 0x22;
  return out;
}

/** serde_json and JSON.stringify escape the same characters (", \, and U+0000–U+001F) the same way. */
export function jsonString(s: string): string {
  if (/\p{Surrogate}/u.test(s)) {
    throw new TruecastError("ST_BAD_ENTRY", `${WRITING}: the name ${JSON.stringify(s)} is not valid Unicode`);
  }
  return JSON.stringify(s);
}

/** A name that is not valid Unicode (a lone surrogate) cannot be written as UTF-8. */
function checkName(s: string): void {
  jsonString(s);
  if (s === METADATA_KEY) throw new TruecastError("ST_BAD_ENTRY", `${WRITING}: a tensor may not be named "${METADATA_KEY}"`);
}

export function checkDim(name: string, d: number): number {
  if (!Number.isSafeInteger(d) || d < 0) {
    throw new TruecastError("ST_BAD_ENTRY", `${WRITING}: tensor "${name}" has shape dimension ${d}, not a count`);
  }
  return d;
}
