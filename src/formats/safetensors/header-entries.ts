/**
 * Reads the JSON of a safetensors header straight into tensor entries and metadata, in one pass over the
 * text, without building a JSON tree: memory stays proportional to what is kept (names, dtypes, shapes,
 * offsets, metadata), whatever the header holds. Rule order is the reference's: any JSON problem (syntax,
 * duplicate key) anywhere wins over any problem of an entry's content, which is reported for the first
 * entry in header order that has one (dtype, then shape, then data_offsets). So a content problem is held
 * back until the whole text has been checked, and nothing more is built once one is found.
 */
import { TruecastError } from "../../errors.js";
import { DTYPES, isDType, type DType } from "../../dtype/table.js";
import { JsonReader, readStrictJson } from "./strict-json.js";
import type { RawEntry } from "./rules.js";
import { MAX_METADATA_ENTRIES, MAX_TENSOR_RANK, METADATA_KEY } from "./spec.js";

/** What a header holds, or the first problem of its content (thrown by the caller after the JSON checks). */
export type HeaderScan =
  | { readonly ok: true; readonly entries: RawEntry[]; readonly metadata: Record<string, string> | null }
  | { readonly ok: false; readonly problem: TruecastError };

type Failure = Exclude<ReturnType<typeof readStrictJson>, { ok: true }>;

/**
 * Reads the header text: a JSON failure (syntax or duplicate key) is returned as such; otherwise the entries
 * and metadata, or the first content problem.
 */
export function scanHeader(text: string, file: string): { json: Failure } | { scan: HeaderScan } {
  const result = readStrictJson(text, (r) => new Scanner(r, file).root());
  return result.ok ? { scan: result.value } : { json: result };
}

const U64_MAX = (1n << 64n) - 1n;
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
  constructor(private readonly r: JsonReader, private readonly file: string) {}

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
    const entries: RawEntry[] = [];
    let metadata: Record<string, string> | null = null;
    r.skipSpace();
    if (r.peek() === 0x7d) r.pos++;
    else {
      const seen = new Set<string>();
      do {
        const name = r.key(seen, []);
        if (name === METADATA_KEY) metadata = this.metadata();
        else {
          const entry = this.entry(name);
          if (entry !== null) entries.push(entry);
        }
      } while (!r.endOrComma("}"));
    }
    return this.problem === null ? { ok: true, entries, metadata } : { ok: false, problem: this.problem };
  }

  /** A value this scanner does not keep (or cannot, after a problem): checked and stepped over. */
  private skip(path: string[]): null {
    this.r.skip(path, path.length); // depth: the root is 0, an entry 1, its fields 2
    return null;
  }

  private entry(name: string): RawEntry | null {
    const r = this.r;
    const bad = (what: string): null => {
      this.defer(new TruecastError("ST_BAD_ENTRY", `${this.file}: tensor "${name}" ${what}; the header is damaged`));
      return null;
    };
    r.skipSpace();
    if (this.problem !== null) return this.skip([name]);
    if (r.peek() !== 0x7b) {
      bad("is not an object with dtype, shape and data_offsets");
      return this.skip([name]);
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
      do {
        const key = r.key(seen, [name]);
        r.skipSpace();
        const c = r.peek();
        if (key === "dtype") dtype = c === 0x22 ? r.string() : (this.skip([name, key]), null);
        else if (key === "shape") {
          if (c !== 0x5b) shape = (this.skip([name, key]), "not a list");
          else {
            const dims: Array<number | bigint> = [];
            shape = dims;
            rank = this.integers([name, key], (d, i) => {
              if (d === null) shape = "bad dimension";
              else if (i < MAX_TENSOR_RANK) dims.push(d);
            });
          }
        } else if (key === "data_offsets") {
          if (c !== 0x5b) offsets = (this.skip([name, key]), "not a pair");
          else {
            const pair: Array<number | bigint> = [];
            let valid = true;
            const count = this.integers([name, key], (o, i) => {
              if (o === null) valid = false;
              else if (i < 2) pair.push(o);
            });
            offsets = count !== 2 ? "not a pair" : valid ? pair : "bad number";
          }
        } else this.skip([name, key]);
      } while (!r.endOrComma("}"));
    }

    if (dtype === undefined) return bad('has no "dtype"');
    if (dtype === null) return bad('has a "dtype" that is not a string');
    if (!isDType(dtype)) {
      this.defer(
        new TruecastError(
          "ST_UNKNOWN_DTYPE",
          `${this.file}: tensor "${name}" has dtype "${dtype}", which safetensors does not define (known: ${DTYPES.join(", ")})`,
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
          `${this.file}: tensor "${name}" has a shape of ${rank} dimensions, more than the ${MAX_TENSOR_RANK} truecast ` +
            "reads (numpy stops at 64; model weights have at most 5); the file is refused",
        ),
      );
      return null;
    }
    if (offsets === undefined) return bad('has no "data_offsets"');
    if (offsets === "not a pair") return bad('has "data_offsets" that are not [begin, end]');
    if (offsets === "bad number") return bad("has data_offsets that are not integers from 0 to 2^64-1");
    const [b, e] = offsets.map(BigInt) as [bigint, bigint];
    if (b > e) return bad(`has data_offsets [${b}, ${e}] that end before they begin`);
    return { name, dtype: dtype as DType, shape, begin: b, end: e };
  }

  /**
   * Steps through an array (at `[`), giving `each` every item as an exact u64 (null for anything else:
   * another kind of value, a negative, fractional or too large number). Returns the item count.
   */
  private integers(path: string[], each: (n: number | bigint | null, index: number) => void): number {
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
        const v = r.value(path, path.length + 1);
        each(v.kind === "number" ? u64(v.raw) : null, count);
      } else {
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
    if (r.text.startsWith("null", r.pos)) return this.skip(path);
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
  const t = r.text;
  let p = r.pos;
  let n = 0;
  for (let c = t.charCodeAt(p); c >= 0x30 && c <= 0x39; c = t.charCodeAt(++p)) n = n * 10 + (c - 0x30);
  const digits = p - r.pos;
  const next = t.charCodeAt(p);
  if (digits === 0 || digits > 15 || (digits > 1 && t.charCodeAt(r.pos) === 0x30)) return null;
  if (next === 0x2e || next === 0x65 || next === 0x45) return null; // a fraction or exponent
  r.pos = p;
  return n;
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
