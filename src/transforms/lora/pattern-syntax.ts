/**
 * The regular expressions of PEFT's `rank_pattern` / `alpha_pattern` keys, parsed as Python's `re` reads them,
 * over the subset such keys use: literals and escapes, `.`, classes (`[a-z]`, `[^.]`, `\d`, `\w`, `\s`),
 * groups (`(...)`, `(?:...)`, `(?P<name>...)`), alternation, the quantifiers `* + ? {m} {m,} {,n} {m,n}` (greedy
 * or lazy) and the anchors `^ $ \A \Z \b \B`. Everything else (backreferences, lookaround, inline flags,
 * conditionals) is refused by name: the matcher that runs the result (`pattern-match.ts`) runs in time linear
 * in the module name, which those constructs cannot offer.
 */

/** A test of one code point. */
export type CharTest = (cp: number) => boolean;

/** Zero-width assertions: `^`/`\A` start; `$` end or before a final newline (Python); `\Z` end; `\b`, `\B`. */
export type AssertKind = "start" | "end" | "endOrFinalNewline" | "boundary" | "notBoundary";

export type PatternNode =
  | { readonly t: "char"; readonly test: CharTest }
  | { readonly t: "assert"; readonly kind: AssertKind }
  | { readonly t: "cat"; readonly items: readonly PatternNode[] }
  | { readonly t: "alt"; readonly items: readonly PatternNode[] }
  | { readonly t: "rep"; readonly node: PatternNode; readonly min: number; readonly max: number };

/** A pattern outside the supported subset, or not a valid Python regular expression; `message` says why. */
export class PatternSyntaxError extends Error {}

const NEWLINE = 0x0a;
const DIGIT_RE = /\p{Nd}/u;
const WORD_RE = /[\p{L}\p{N}_]/u;
const SPACE_RE = /[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;

/** Python 3 `str` semantics: `\d` is any decimal digit, `\w` any letter, digit or `_`, `\s` any space. */
export const isDigit: CharTest = (cp) => (cp < 0x80 ? cp >= 0x30 && cp <= 0x39 : DIGIT_RE.test(String.fromCodePoint(cp)));
export const isWord: CharTest = (cp) =>
  cp < 0x80 ? (cp | 0x20) >= 0x61 && (cp | 0x20) <= 0x7a || (cp >= 0x30 && cp <= 0x39) || cp === 0x5f : WORD_RE.test(String.fromCodePoint(cp));
export const isSpace: CharTest = (cp) => SPACE_RE.test(String.fromCodePoint(cp));
const CLASS_ESCAPES: Readonly<Record<string, CharTest>> = {
  d: isDigit,
  D: (cp) => !isDigit(cp),
  w: isWord,
  W: (cp) => !isWord(cp),
  s: isSpace,
  S: (cp) => !isSpace(cp),
};
const CONTROL_ESCAPES: Readonly<Record<string, number>> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };
const HEX_ESCAPES: Readonly<Record<string, number>> = { x: 2, u: 4, U: 8 };

/** Parses `source` (a whole pattern) into a tree; throws {@link PatternSyntaxError}. */
export function parsePattern(source: string): PatternNode {
  const p = new Parser([...source]);
  const node = p.alternation();
  if (p.pos < p.chars.length) p.fail("unbalanced parenthesis");
  return node;
}

class Parser {
  pos = 0;
  private readonly groupNames = new Set<string>();
  constructor(readonly chars: readonly string[]) {}

  fail(what: string): never {
    throw new PatternSyntaxError(`${what} at position ${this.pos}`);
  }

  peek(offset = 0): string | undefined {
    return this.chars[this.pos + offset];
  }

  alternation(): PatternNode {
    const items = [this.sequence()];
    while (this.peek() === "|") {
      this.pos++;
      items.push(this.sequence());
    }
    return items.length === 1 ? (items[0] as PatternNode) : { t: "alt", items };
  }

  sequence(): PatternNode {
    const items: PatternNode[] = [];
    for (let c = this.peek(); c !== undefined && c !== "|" && c !== ")"; c = this.peek()) {
      let atom = this.atom();
      const q = this.quantifier();
      if (q !== null) {
        if (atom.t === "assert") this.fail("nothing to repeat");
        atom = { t: "rep", node: atom, ...q };
        if (this.peek() === "?") this.pos++; // lazy: the same answer to "is there a match"
        if (this.quantifierAhead()) this.fail("multiple repeat");
      }
      items.push(atom);
    }
    return items.length === 1 ? (items[0] as PatternNode) : { t: "cat", items };
  }

  atom(): PatternNode {
    const c = this.peek() as string;
    if (this.quantifierAhead()) this.fail("nothing to repeat");
    this.pos++;
    switch (c) {
      case "(":
        return this.group();
      case "[":
        return this.charClass();
      case ".":
        return { t: "char", test: (cp) => cp !== NEWLINE };
      case "^":
        return { t: "assert", kind: "start" };
      case "$":
        return { t: "assert", kind: "endOrFinalNewline" };
      case "\\":
        return this.escape();
      default:
        return literal(c.codePointAt(0) as number);
    }
  }

  group(): PatternNode {
    if (this.peek() === "?") {
      const kind = this.peek(1);
      if (kind === ":") this.pos += 2;
      else if (kind === "P" && this.peek(2) === "<") this.groupName();
      else this.fail(`the group construct "(?${kind ?? ""}" (lookaround, backreference, flags or conditional) is not supported`);
    }
    const inner = this.alternation();
    if (this.peek() !== ")") this.fail("missing ), unterminated subpattern");
    this.pos++;
    return inner;
  }

  groupName(): void {
    this.pos += 3;
    const start = this.pos;
    while (this.peek() !== undefined && this.peek() !== ">") this.pos++;
    const name = this.chars.slice(start, this.pos).join("");
    if (this.peek() !== ">" || !/^[\p{L}_][\p{L}\p{N}_]*$/u.test(name)) this.fail("bad group name");
    if (this.groupNames.has(name)) this.fail(`redefinition of group name "${name}"`);
    this.groupNames.add(name);
    this.pos++;
  }

  /** A `* + ? {m,n}` at `pos` (consumed), or null. A `{` that is no quantifier is a literal, as in Python. */
  quantifier(): { min: number; max: number } | null {
    const c = this.peek();
    if (c === "*" || c === "+" || c === "?") {
      this.pos++;
      return { min: c === "+" ? 1 : 0, max: c === "?" ? 1 : Infinity };
    }
    const m = this.braces();
    if (m === null) return null;
    this.pos += m.length;
    if (m.min > m.max) this.fail("min repeat greater than max repeat");
    return { min: m.min, max: m.max };
  }

  quantifierAhead(): boolean {
    const c = this.peek();
    return c === "*" || c === "+" || c === "?" || this.braces() !== null;
  }

  braces(): { min: number; max: number; length: number } | null {
    if (this.peek() !== "{") return null;
    let end = this.pos + 1;
    while (end < this.chars.length && this.chars[end] !== "}") end++;
    if (end >= this.chars.length) return null;
    const m = /^(\d*)(,?)(\d*)$/.exec(this.chars.slice(this.pos + 1, end).join(""));
    if (m === null || (m[1] === "" && m[2] === "")) return null;
    const min = m[1] === "" ? 0 : Number(m[1]);
    const max = m[2] === "" ? min : m[3] === "" ? Infinity : Number(m[3]);
    return { min, max, length: end + 1 - this.pos };
  }

  escape(): PatternNode {
    const c = this.peek();
    if (c === undefined) this.fail("bad escape (end of pattern)");
    this.pos++;
    if (c === "A") return { t: "assert", kind: "start" };
    if (c === "Z") return { t: "assert", kind: "end" };
    if (c === "b") return { t: "assert", kind: "boundary" };
    if (c === "B") return { t: "assert", kind: "notBoundary" };
    const set = CLASS_ESCAPES[c];
    if (set !== undefined) return { t: "char", test: set };
    return literal(this.escapedCodePoint(c));
  }

  /** The code point of the escape `\c` (after `c`), shared by patterns and classes. */
  escapedCodePoint(c: string): number {
    const control = CONTROL_ESCAPES[c];
    if (control !== undefined) return control;
    const digits = HEX_ESCAPES[c];
    if (digits !== undefined) {
      const hex = this.chars.slice(this.pos, this.pos + digits).join("");
      if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) this.fail(`incomplete escape \\${c}`);
      this.pos += digits;
      const cp = parseInt(hex, 16);
      if (cp > 0x10ffff) this.fail(`bad escape \\${c}${hex}`);
      return cp;
    }
    if (/[0-9]/.test(c)) this.fail(`the escape \\${c} (a backreference or octal escape) is not supported`);
    if (/[A-Za-z]/.test(c)) this.fail(`bad escape \\${c}`);
    return c.codePointAt(0) as number;
  }

  charClass(): PatternNode {
    const negate = this.peek() === "^";
    if (negate) this.pos++;
    const tests: CharTest[] = [];
    const ranges: Array<[number, number]> = [];
    for (let first = true; ; first = false) {
      const c = this.peek();
      if (c === undefined) this.fail("unterminated character set");
      if (c === "]" && !first) break;
      const lo = this.classItem();
      if (this.peek() === "-" && this.peek(1) !== "]" && this.peek(1) !== undefined) {
        this.pos++;
        const hi = this.classItem();
        if (typeof lo !== "number" || typeof hi !== "number") this.fail("bad character range");
        if (lo > hi) this.fail("bad character range");
        ranges.push([lo, hi]);
      } else if (typeof lo === "number") ranges.push([lo, lo]);
      else tests.push(lo);
    }
    this.pos++; // ]
    const inClass = (cp: number): boolean => ranges.some(([a, b]) => cp >= a && cp <= b) || tests.some((t) => t(cp));
    return { t: "char", test: negate ? (cp) => !inClass(cp) : inClass };
  }

  /** One member of a class: a code point, or a set such as `\d`. */
  classItem(): number | CharTest {
    const c = this.peek() as string;
    this.pos++;
    if (c !== "\\") return c.codePointAt(0) as number;
    const e = this.peek();
    if (e === undefined) this.fail("bad escape (end of pattern)");
    this.pos++;
    if (e === "b") return 8; // backspace inside a class
    return CLASS_ESCAPES[e] ?? this.escapedCodePoint(e);
  }
}

function literal(cp: number): PatternNode {
  return { t: "char", test: (x) => x === cp };
}
