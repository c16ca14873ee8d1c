/**
 * A strict JSON reader for headers and indexes, where `JSON.parse` is too forgiving or too lossy:
 * - duplicate keys are reported (JSON.parse, like serde's maps, silently keeps the last one);
 * - numbers keep their source text, so a u64 offset or dimension is exact (JSON.parse rounds past 2^53);
 * - escapes that do not make valid Unicode (a lone surrogate) are refused, as serde_json refuses them.
 * It reads UTF-8 bytes (checked valid first), so a 100 MB header costs its bytes, not also a 100 MB string; offsets in
 * failures are still characters (UTF-16 code units) of the decoded text.
 * It knows nothing of safetensors; callers turn a failure into their own error code.
 */
import { isUtf8 } from "node:buffer";

export type JsonValue =
  | { readonly kind: "object"; readonly entries: ReadonlyArray<readonly [string, JsonValue]> }
  | { readonly kind: "array"; readonly items: readonly JsonValue[] }
  | { readonly kind: "string"; readonly value: string }
  | { readonly kind: "number"; readonly raw: string }
  | { readonly kind: "boolean"; readonly value: boolean }
  | { readonly kind: "null" };

export type JsonParseResult =
  | { readonly ok: true; readonly value: JsonValue }
  | { readonly ok: false; readonly problem: "syntax"; readonly detail: string; readonly offset: number }
  | { readonly ok: false; readonly problem: "duplicate"; readonly key: string; readonly path: readonly string[] };

/** Nesting limit; serde_json's default recursion limit is 128, and no format we read nests past 4. */
export const MAX_JSON_DEPTH = 128;

class SyntaxFailure {
  constructor(readonly detail: string, readonly offset: number) {}
}
/** Thrown by {@link JsonReader} at a key seen twice in one object; `path` is the keys of the objects around it. */
export class DuplicateFailure {
  constructor(readonly key: string, readonly path: readonly string[]) {}
}

/** Digits from `p` on: the position after the last one. */
function digitsEnd(b: Uint8Array, p: number): number {
  while (p < b.length && (b[p] as number) >= 0x30 && (b[p] as number) <= 0x39) p++;
  return p;
}

/**
 * A reader positioned in a JSON text. `value` builds a {@link JsonValue}; `skip` checks a value (syntax,
 * duplicate keys, nesting) without building anything, so that a caller reading one format (a safetensors
 * header) can build only what it needs, with memory proportional to that. Failures are thrown as
 * {@link SyntaxFailure} / {@link DuplicateFailure}; run a reader inside {@link readStrictJson}.
 */
export class JsonReader {
  /** A byte offset into `bytes`. */
  pos = 0;
  private readonly buffer: Buffer;
  /** `bytes` must be valid UTF-8 (see {@link readStrictJson}). */
  constructor(readonly bytes: Uint8Array) {
    this.buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** The byte at `pos` (NaN at the end, as charCodeAt gives). */
  peek(): number {
    return this.pos < this.bytes.length ? (this.bytes[this.pos] as number) : NaN;
  }

  /** Does the ASCII `word` start at `pos`? */
  startsWith(word: string): boolean {
    for (let i = 0; i < word.length; i++) if (this.bytes[this.pos + i] !== word.charCodeAt(i)) return false;
    return true;
  }

  /** Bytes `start`..`end` as text. */
  slice(start: number, end: number): string {
    return this.buffer.toString("utf8", start, end);
  }

  /** Skips space, then requires the character `c` and steps over it. */
  expect(c: string, what: string): void {
    this.skipSpace();
    if (this.peek() !== c.charCodeAt(0)) this.fail(`expected ${what}`);
    this.pos++;
  }

  /** After a member of an object or array: true at the closing `close` (consumed), false after a comma. */
  endOrComma(close: string): boolean {
    this.skipSpace();
    const c = this.peek();
    if (c === close.charCodeAt(0)) {
      this.pos++;
      return true;
    }
    if (c !== 0x2c) this.fail(`expected ',' or '${close}'`);
    this.pos++;
    return false;
  }

  /** Validates one value at `pos` and steps over it, building nothing but the key sets of its objects. */
  skip(path: string[], depth: number): void {
    if (depth > MAX_JSON_DEPTH) this.fail(`nesting deeper than ${MAX_JSON_DEPTH} levels`);
    this.skipSpace();
    const c = this.peek();
    if (c === 0x7b) {
      this.pos++;
      this.skipSpace();
      if (this.peek() === 0x7d) {
        this.pos++;
        return;
      }
      const seen = new Set<string>();
      do {
        const key = this.key(seen, path);
        path.push(key);
        this.skip(path, depth + 1);
        path.pop();
      } while (!this.endOrComma("}"));
      return;
    }
    if (c === 0x5b) {
      this.pos++;
      this.skipSpace();
      if (this.peek() === 0x5d) {
        this.pos++;
        return;
      }
      do this.skip(path, depth + 1);
      while (!this.endOrComma("]"));
      return;
    }
    if (c === 0x22) {
      this.string();
      return;
    }
    this.value(path, depth);
  }

  /** Reads an object key and its colon, refusing a key already in `seen` (then adds it). */
  key(seen: Set<string>, path: readonly string[]): string {
    this.skipSpace();
    if (this.peek() !== 0x22) this.fail("expected a string key");
    const key = this.string();
    if (seen.has(key)) throw new DuplicateFailure(key, [...path]);
    seen.add(key);
    this.expect(":", "':'");
    return key;
  }

  fail(detail: string): never {
    throw new SyntaxFailure(detail, this.pos);
  }

  skipSpace(): void {
    const t = this.bytes;
    while (this.pos < t.length) {
      const c = t[this.pos] as number;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      this.pos++;
    }
  }

  value(path: string[], depth: number): JsonValue {
    if (depth > MAX_JSON_DEPTH) this.fail(`nesting deeper than ${MAX_JSON_DEPTH} levels`);
    this.skipSpace();
    const c = this.peek();
    if (c === 0x7b) return this.object(path, depth);
    if (c === 0x5b) return this.array(path, depth);
    if (c === 0x22) return { kind: "string", value: this.string() };
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (this.startsWith("true")) return this.literal(4, { kind: "boolean", value: true });
    if (this.startsWith("false")) return this.literal(5, { kind: "boolean", value: false });
    if (this.startsWith("null")) return this.literal(4, { kind: "null" });
    return this.fail(Number.isNaN(c) ? "unexpected end of text" : "unexpected character");
  }

  literal(length: number, v: JsonValue): JsonValue {
    this.pos += length;
    return v;
  }

  /** `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, as long as it goes. */
  number(): JsonValue {
    const b = this.bytes;
    const start = this.pos;
    let p = b[start] === 0x2d ? start + 1 : start;
    if (b[p] === 0x30) p++;
    else {
      const e = digitsEnd(b, p);
      if (e === p) return this.fail("malformed number");
      p = e;
    }
    if (b[p] === 0x2e && digitsEnd(b, p + 1) > p + 1) p = digitsEnd(b, p + 1);
    if (b[p] === 0x65 || b[p] === 0x45) {
      const q = b[p + 1] === 0x2b || b[p + 1] === 0x2d ? p + 2 : p + 1;
      if (digitsEnd(b, q) > q) p = digitsEnd(b, q);
    }
    this.pos = p;
    return { kind: "number", raw: this.slice(start, p) };
  }

  object(path: string[], depth: number): JsonValue {
    this.pos++; // {
    const entries: Array<readonly [string, JsonValue]> = [];
    const seen = new Set<string>();
    this.skipSpace();
    if (this.peek() === 0x7d) {
      this.pos++;
      return { kind: "object", entries };
    }
    for (;;) {
      this.skipSpace();
      if (this.peek() !== 0x22) this.fail("expected a string key");
      const key = this.string();
      if (seen.has(key)) throw new DuplicateFailure(key, [...path]);
      seen.add(key);
      this.skipSpace();
      if (this.peek() !== 0x3a) this.fail("expected ':'");
      this.pos++;
      path.push(key);
      entries.push([key, this.value(path, depth + 1)]);
      path.pop();
      this.skipSpace();
      const c = this.peek();
      this.pos++;
      if (c === 0x7d) return { kind: "object", entries };
      if (c !== 0x2c) {
        this.pos--;
        this.fail("expected ',' or '}'");
      }
    }
  }

  array(path: string[], depth: number): JsonValue {
    this.pos++; // [
    const items: JsonValue[] = [];
    this.skipSpace();
    if (this.peek() === 0x5d) {
      this.pos++;
      return { kind: "array", items };
    }
    for (;;) {
      items.push(this.value(path, depth + 1));
      this.skipSpace();
      const c = this.peek();
      this.pos++;
      if (c === 0x5d) return { kind: "array", items };
      if (c !== 0x2c) {
        this.pos--;
        this.fail("expected ',' or ']'");
      }
    }
  }

  string(): string {
    const start = this.pos + 1;
    if (this.rawString()) return this.slice(start, this.pos - 1);
    const t = this.bytes;
    this.pos = start;
    let out = "";
    let runStart = this.pos;
    for (;;) {
      const c = t[this.pos] as number;
      if (c === 0x22) {
        out += this.slice(runStart, this.pos);
        this.pos++;
        return out;
      }
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      out += this.slice(runStart, this.pos);
      out += this.escape();
      runStart = this.pos;
    }
  }

  /**
   * {@link string}, but returns the very string of `choices` that the text equals (ASCII choices, compared as
   * bytes), so that keys and values read a million times cost no new string.
   */
  stringOf(choices: readonly string[]): string {
    const start = this.pos + 1;
    if (this.rawString()) {
      const end = this.pos - 1;
      for (const c of choices) {
        if (c.length !== end - start) continue;
        let k = 0;
        while (k < c.length && this.bytes[start + k] === c.charCodeAt(k)) k++;
        if (k === c.length) return c;
      }
      return this.slice(start, end);
    }
    this.pos = start - 1;
    return this.string();
  }

  /**
   * Checks the string at `pos` (its opening quote) and steps over it. True when it holds no escape, so that its
   * text is exactly the bytes between the quotes (a caller may keep those bytes instead of a string).
   */
  rawString(): boolean {
    const t = this.bytes;
    this.pos++; // opening quote
    let plain = true;
    for (;;) {
      if (this.pos >= t.length) this.fail("unterminated string");
      const c = t[this.pos] as number;
      if (c === 0x22) {
        this.pos++;
        return plain;
      }
      if (c < 0x20) this.fail("control character inside a string");
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      plain = false;
      this.escape();
    }
  }

  /** Reads one escape at `pos` (the backslash); a \u escape pair makes one astral character. */
  escape(): string {
    const e = String.fromCharCode(this.bytes[this.pos + 1] ?? 0);
    this.pos += 2;
    switch (e) {
      case '"': return '"';
      case "\\": return "\\";
      case "/": return "/";
      case "b": return "\b";
      case "f": return "\f";
      case "n": return "\n";
      case "r": return "\r";
      case "t": return "\t";
      case "u": {
        const hi = this.hex4();
        if (hi >= 0xdc00 && hi <= 0xdfff) this.fail("lone trailing surrogate in \\u escape");
        if (hi < 0xd800 || hi > 0xdbff) return String.fromCharCode(hi);
        if (this.bytes[this.pos] !== 0x5c || this.bytes[this.pos + 1] !== 0x75) this.fail("lone leading surrogate in \\u escape");
        this.pos += 2;
        const lo = this.hex4();
        if (lo < 0xdc00 || lo > 0xdfff) this.fail("lone leading surrogate in \\u escape");
        return String.fromCharCode(hi, lo);
      }
      default:
        this.pos -= 2;
        return this.fail("invalid escape");
    }
  }

  hex4(): number {
    const digits = this.pos + 4 <= this.bytes.length ? this.slice(this.pos, this.pos + 4) : "";
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) this.fail("invalid \\u escape");
    this.pos += 4;
    return parseInt(digits, 16);
  }
}

/** Parses one JSON text (whitespace around it allowed, nothing else). Never throws. */
export function parseStrictJson(text: string): JsonParseResult {
  return readStrictJson(Buffer.from(text, "utf8"), (r) => r.value([], 0));
}

/** Is `bytes` valid UTF-8 (what a reader must check before {@link readStrictJson})? */
export function isValidUtf8(bytes: Uint8Array): boolean {
  return isUtf8(bytes);
}

/**
 * Runs `read` on a reader at the start of `bytes` (valid UTF-8: check with {@link isValidUtf8}), then requires
 * only whitespace after what it read; a syntax error or duplicate key thrown by the reader becomes a failed
 * result, its offset in characters of the text. Other exceptions pass through.
 */
export function readStrictJson<T>(
  bytes: Uint8Array,
  read: (r: JsonReader) => T,
): { readonly ok: true; readonly value: T } | Exclude<JsonParseResult, { ok: true }> {
  const r = new JsonReader(bytes);
  try {
    const value = read(r);
    r.skipSpace();
    if (r.pos !== bytes.length) r.fail("trailing characters after the JSON value");
    return { ok: true, value };
  } catch (e) {
    if (e instanceof SyntaxFailure) {
      const offset = r.slice(0, Math.min(e.offset, bytes.length)).length;
      return { ok: false, problem: "syntax", detail: e.detail, offset };
    }
    if (e instanceof DuplicateFailure) return { ok: false, problem: "duplicate", key: e.key, path: e.path };
    throw e;
  }
}

/**
 * The exact value of a JSON number that is a plain non-negative integer (`0`, `42`), or null for anything
 * else (`-1`, `1.0`, `1e3`): serde refuses those for a `usize`, and so do we.
 */
export function jsonUnsignedInteger(v: JsonValue): bigint | null {
  if (v.kind !== "number" || !/^(?:0|[1-9][0-9]*)$/.test(v.raw)) return null;
  return BigInt(v.raw);
}

/** "an array", "a number", ... for messages about a value of the wrong kind. */
export function describeKind(v: JsonValue): string {
  return v.kind === "array" || v.kind === "object" ? `an ${v.kind}` : v.kind === "null" ? "null" : `a ${v.kind}`;
}
