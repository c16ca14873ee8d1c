/**
 * Reads the JSON of a safetensors header straight into a {@link TensorTable} and metadata, in one pass over the
 * UTF-8 bytes, without building a JSON tree or a string per name: memory stays proportional to what is kept (name
 * bytes, dtypes, shapes, offsets, metadata), whatever the header holds. Rule order is the reference's: any JSON problem (syntax,
 * duplicate key) anywhere wins over any problem of an entry's content, which is reported for the first
 * entry in header order that has one (dtype, then shape, then data_offsets). So a content problem is held
 * back until the whole text has been checked, and nothing more is built once one is found.
 */
import { TruecastError } from "../../errors.js";
import { DTYPES, isDType, type DType } from "../../dtype/table.js";
import { NameIndex } from "./name-table.js";
import { DuplicateFailure, JsonReader, readStrictJson } from "./strict-json.js";
import { MAX_METADATA_ENTRIES, MAX_TENSOR_RANK, METADATA_KEY } from "./spec.js";
import { TensorTable } from "./tensor-table.js";

/** What a header holds (tensors in header order), or the first problem of its content (thrown by the caller after the JSON checks). */
export type HeaderScan =
  | { readonly ok: true; readonly table: TensorTable; readonly metadata: Record<string, string> | null }
  | { readonly ok: false; readonly problem: TruecastError };

type Failure = Exclude<ReturnType<typeof readStrictJson>, { ok: true }>;

/**
 * Reads the header's bytes (valid UTF-8): a JSON failure (syntax or duplicate key) is returned as such; otherwise
 * the tensors and metadata, or the first content problem.
 */
export function scanHeader(bytes: Uint8Array, file: string, into?: ScanTarget): { json: Failure } | { scan: HeaderScan } {
  const result = readStrictJson(bytes, (r) => new Scanner(r, file, into ?? newTarget()).root());
  return result.ok ? { scan: result.value } : { json: result };
}

/**
 * Where a scan puts what it reads: a table and the index of its names. A header read in pieces scans each into
 * the same target, so that its rows land in one table and a name repeated in a later piece is found.
 */
export interface ScanTarget {
  readonly table: TensorTable;
  readonly index: NameIndex;
}

/** An empty target. */
export function newTarget(): ScanTarget {
  const table = new TensorTable();
  return { table, index: new NameIndex(table.names) };
}

const U64_MAX = (1n << 64n) - 1n;
const METADATA_BYTES = Buffer.from(METADATA_KEY, "utf8");
const PLAIN_INTEGER = /^(?:0|[1-9][0-9]*)$/;

/** An exact non-negative integer from 0 to 2^64-1 (a number while that is exact), or null. */
function u64(raw: string): number | bigint | null {
  if (!PLAIN_INTEGER.test(raw)) return null;
  if (raw.length <= 15) return Number(raw);
  const n = BigInt(raw);
  return n <= U64_MAX ? n : null;
}

class Scanner {
  private problem: TruecastError | null = null;
  /** Every top-level key but `__metadata__`, in order; rows only for tensors read before the first problem. */
  private readonly table: TensorTable;
  private readonly index: NameIndex;
  constructor(private readonly r: JsonReader, private readonly file: string, target: ScanTarget) {
    this.table = target.table;
    this.index = target.index;
  }

  /**
   * Reads a top-level key and its colon. A tensor's name goes into the table (refused when seen before); returns
   * its name number, or -1 for `__metadata__` (refused when seen before, by `metadataSeen`).
   */
  private topKey(metadataSeen: boolean): number {
    const r = this.r;
    r.skipSpace();
    if (r.peek() !== 0x22) r.fail("expected a string key");
    const start = r.pos + 1;
    const names = this.table.names;
    let i: number;
    if (r.rawString()) {
      const end = r.pos - 1;
      if (end - start === METADATA_BYTES.length && METADATA_BYTES.equals(r.bytes.subarray(start, end))) i = -1;
      else i = names.addBytes(r.bytes, start, end);
    } else {
      r.pos = start - 1;
      const key = r.string();
      i = key === METADATA_KEY ? -1 : names.addString(key);
    }
    if (i < 0) {
      if (metadataSeen) throw new DuplicateFailure(METADATA_KEY, []);
    } else if (this.index.add(i) >= 0) throw new DuplicateFailure(names.name(i), []);
    r.expect(":", "':'");
    return i;
  }

  /** Records the first content problem; later ones are not reported (the reference stops at the first). */
  private defer(problem: TruecastError): void {
    this.problem ??= problem;
  }

  root(): HeaderScan {
    const r = this.r;
    r.skipSpace();
    if (r.peek() !== 0x7b) {
      r.skip([], 0);
      return { ok: false, problem: new TruecastError("ST_HEADER_JSON", `${this.file}: the header is JSON but not an object of tensors`) };
    }
    r.pos++;
    let metadata: Record<string, string> | null = null;
    let metadataSeen = false;
    r.skipSpace();
    if (r.peek() === 0x7d) r.pos++;
    else {
      do {
        const i = this.topKey(metadataSeen);
        if (i < 0) {
          metadataSeen = true;
          metadata = this.metadata();
        } else this.entry(i);
      } while (!r.endOrComma("}"));
    }
    return this.problem === null ? { ok: true, table: this.table, metadata } : { ok: false, problem: this.problem };
  }

  /** A value this scanner does not keep (or cannot, after a problem): checked and stepped over. */
  private skip(path: string[]): null {
    this.r.skip(path, path.length); // depth: the root is 0, an entry 1, its fields 2
    return null;
  }

  /** Reads the value of name number `i`; adds its row when it is a valid entry (and nothing was wrong before). */
  private entry(i: number): null {
    const r = this.r;
    const name = (): string => this.table.names.name(i);
    const bad = (what: string): null => {
      this.defer(new TruecastError("ST_BAD_ENTRY", `${this.file}: tensor "${name()}" ${what}; the header is damaged`));
      return null;
    };
    r.skipSpace();
    if (this.problem !== null) return this.skip([name()]);
    if (r.peek() !== 0x7b) {
      bad("is not an object with dtype, shape and data_offsets");
      return this.skip([name()]);
    }
    let dtype: string | null | undefined; // null: present but not a string
    let shape: Array<number | bigint> | "not a list" | "bad dimension" | undefined;
    let rank = 0;
    let offsets: Array<number | bigint> | "not a pair" | "bad number" | undefined;
    r.pos++;
    r.skipSpace();
    if (r.peek() === 0x7d) r.pos++;
    else {
      const seen = new Set<string>();
      let path: string[] | null = null;
      const at = (key?: string): string[] => {
        path ??= [name()];
        return key === undefined ? path : [...path, key];
      };
      do {
        const key = fieldKey(r, seen, at);
        r.skipSpace();
        const c = r.peek();
        if (key === "dtype") dtype = c === 0x22 ? r.stringOf(DTYPES) : (this.skip(at(key)), null);
        else if (key === "shape") {
          if (c !== 0x5b) shape = (this.skip(at(key)), "not a list");
          else {
            const dims: Array<number | bigint> = [];
            shape = dims;
            rank = this.integers(() => at(key), (d, k) => {
              if (d === null) shape = "bad dimension";
              else if (k < MAX_TENSOR_RANK) dims.push(d);
            });
          }
        } else if (key === "data_offsets") {
          if (c !== 0x5b) offsets = (this.skip(at(key)), "not a pair");
          else {
            const pair: Array<number | bigint> = [];
            let valid = true;
            const count = this.integers(() => at(key), (o, k) => {
              if (o === null) valid = false;
              else if (k < 2) pair.push(o);
            });
            offsets = count !== 2 ? "not a pair" : valid ? pair : "bad number";
          }
        } else this.skip(at(key));
      } while (!r.endOrComma("}"));
    }

    if (dtype === undefined) return bad('has no "dtype"');
    if (dtype === null) return bad('has a "dtype" that is not a string');
    if (!isDType(dtype)) {
      this.defer(
        new TruecastError(
          "ST_UNKNOWN_DTYPE",
          `${this.file}: tensor "${name()}" has dtype "${dtype}", which safetensors does not define (known: ${DTYPES.join(", ")})`,
        ),
      );
      return null;
    }
    if (shape === undefined) return bad('has no "shape"');
    if (shape === "not a list") return bad('has a "shape" that is not a list');
    if (shape === "bad dimension") return bad("has a shape dimension that is not an integer from 0 to 2^64-1");
    if (rank > MAX_TENSOR_RANK) {
      this.defer(
        new TruecastError(
          "ST_BAD_ENTRY",
          `${this.file}: tensor "${name()}" has a shape of ${rank} dimensions, more than the ${MAX_TENSOR_RANK} truecast ` +
            "reads (numpy stops at 64; model weights have at most 5); the file is refused",
        ),
      );
      return null;
    }
    if (offsets === undefined) return bad('has no "data_offsets"');
    if (offsets === "not a pair") return bad('has "data_offsets" that are not [begin, end]');
    if (offsets === "bad number") return bad("has data_offsets that are not integers from 0 to 2^64-1");
    const [b, e] = offsets as [number | bigint, number | bigint];
    if (b > e) return bad(`has data_offsets [${b}, ${e}] that end before they begin`);
    this.table.pushRow({ dtype: dtype as DType, shape, begin: b, end: e });
    return null;
  }

  /**
   * Steps through an array (at `[`), giving `each` every item as an exact u64 (null for anything else:
   * another kind of value, a negative, fractional or too large number). Returns the item count.
   */
  private integers(at: () => string[], each: (n: number | bigint | null, index: number) => void): number {
    const r = this.r;
    r.pos++;
    r.skipSpace();
    if (r.peek() === 0x5d) {
      r.pos++;
      return 0;
    }
    let count = 0;
    do {
      r.skipSpace();
      const c = r.peek();
      const small = smallInteger(r);
      if (small !== null) each(small, count);
      else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
        const path = at();
        const v = r.value(path, path.length + 1);
        each(v.kind === "number" ? u64(v.raw) : null, count);
      } else {
        const path = at();
        r.skip(path, path.length + 1);
        each(null, count);
      }
      count++;
    } while (!r.endOrComma("]"));
    return count;
  }

  private metadata(): Record<string, string> | null {
    const r = this.r;
    const path = [METADATA_KEY];
    const bad = (what: string): null => {
      this.defer(new TruecastError("ST_METADATA", `${this.file}: "${METADATA_KEY}" ${what}`));
      return null;
    };
    r.skipSpace();
    const c = r.peek();
    if (r.startsWith("null")) return this.skip(path);
    if (this.problem !== null) return this.skip(path);
    if (c !== 0x7b) {
      bad(`must be an object of strings, found ${describeAt(c)}`);
      return this.skip(path);
    }
    r.pos++;
    const out: Record<string, string> = {};
    r.skipSpace();
    if (r.peek() === 0x7d) {
      r.pos++;
      return out;
    }
    const seen = new Set<string>();
    do {
      const key = r.key(seen, path);
      r.skipSpace();
      const v = r.peek();
      if (this.problem !== null) this.skip([METADATA_KEY, key]);
      else if (v !== 0x22) {
        bad(`entry "${key}" is ${describeAt(v)}, but safetensors metadata values must be strings`);
        this.skip([METADATA_KEY, key]);
      } else if (seen.size > MAX_METADATA_ENTRIES) {
        bad(`has more than ${MAX_METADATA_ENTRIES} entries, more than truecast holds (real files carry a handful)`);
        this.skip([METADATA_KEY, key]);
      } else {
        // defineProperty, so that a key such as "__proto__" stays an ordinary own key.
        Object.defineProperty(out, key, { value: r.string(), enumerable: true, writable: true, configurable: true });
      }
    } while (!r.endOrComma("}"));
    return out;
  }
}

/**
 * The fast path for the common case, a plain integer of at most 15 digits (exact as a number), read at `pos`
 * without allocating; null (and `pos` unmoved) for anything else, which the general reader then checks.
 */
function smallInteger(r: JsonReader): number | null {
  const t = r.bytes;
  let p = r.pos;
  let n = 0;
  for (let c = t[p] ?? NaN; c >= 0x30 && c <= 0x39; c = t[++p] ?? NaN) n = n * 10 + (c - 0x30);
  const digits = p - r.pos;
  const next = t[p];
  if (digits === 0 || digits > 15 || (digits > 1 && t[r.pos] === 0x30)) return null;
  if (next === 0x2e || next === 0x65 || next === 0x45) return null; // a fraction or exponent
  r.pos = p;
  return n;
}

const FIELDS = ["dtype", "shape", "data_offsets"] as const;

/** An entry's field key and its colon, refusing a key seen before in the entry (`at` gives its path for the message). */
function fieldKey(r: JsonReader, seen: Set<string>, at: () => string[]): string {
  r.skipSpace();
  if (r.peek() !== 0x22) r.fail("expected a string key");
  const key = r.stringOf(FIELDS);
  if (seen.has(key)) throw new DuplicateFailure(key, at());
  seen.add(key);
  r.expect(":", "':'");
  return key;
}

/** "an array", "a number", ... for the JSON value starting with the code unit `c`. */
function describeAt(c: number): string {
  if (c === 0x5b) return "an array";
  if (c === 0x7b) return "an object";
  if (c === 0x22) return "a string";
  if (c === 0x74 || c === 0x66) return "a boolean";
  if (c === 0x6e) return "null";
  return "a number";
}
