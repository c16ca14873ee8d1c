/** Decoding of pickle's protocol-0 text arguments and of Python 2 byte strings. */

/** Strict UTF-8 that keeps a leading U+FEFF (Python never drops a BOM from a pickled string). */
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Python 2 `str` bytes decoded as torch.load does (encoding="utf-8", errors="strict"): null when they are not
 * UTF-8 (torch.load refuses the file then).
 */
export function decodePy2String(bytes: Uint8Array): string | null {
  try {
    return UTF8.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * The argument of BINUNICODE, SHORT_BINUNICODE and BINUNICODE8, decoded as CPython's unpickler does:
 * UTF-8 with "surrogatepass" (a lone surrogate encoded as 3 UTF-8 bytes is accepted; anything else that is not
 * UTF-8 is an error). Null when Python would raise UnicodeDecodeError.
 */
export function decodeUtf8SurrogatePass(bytes: Uint8Array): string | null {
  try {
    return UTF8.decode(bytes);
  } catch {
    return decodeSlow(bytes);
  }
}

/** The rare path: a strict UTF-8 decoder written out, accepting ED A0..BF xx (surrogates) as Python's surrogatepass does. */
function decodeSlow(b: Uint8Array): string | null {
  const units: number[] = [];
  let out = "";
  const cont = (i: number): number => {
    const c = b[i];
    return c !== undefined && (c & 0xc0) === 0x80 ? c & 0x3f : -1;
  };
  for (let i = 0; i < b.length; ) {
    const c = b[i] ?? 0;
    let cp: number;
    if (c < 0x80) {
      cp = c;
      i += 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
      const c1 = cont(i + 1);
      if (c1 < 0) return null;
      cp = ((c & 0x1f) << 6) | c1;
      i += 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      const c1 = cont(i + 1);
      const c2 = cont(i + 2);
      if (c1 < 0 || c2 < 0) return null;
      cp = ((c & 0x0f) << 12) | (c1 << 6) | c2;
      if (cp < 0x800) return null; // overlong
      i += 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
      const c1 = cont(i + 1);
      const c2 = cont(i + 2);
      const c3 = cont(i + 3);
      if (c1 < 0 || c2 < 0 || c3 < 0) return null;
      cp = ((c & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3;
      if (cp < 0x10000 || cp > 0x10ffff) return null;
      i += 4;
    } else {
      return null;
    }
    if (cp >= 0x10000) {
      units.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
    } else {
      units.push(cp);
    }
    if (units.length >= 4096) {
      out += String.fromCharCode(...units);
      units.length = 0;
    }
  }
  return out + String.fromCharCode(...units);
}

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = {
  "\\": 0x5c, "'": 0x27, '"': 0x22, n: 0x0a, r: 0x0d, t: 0x09, a: 0x07, b: 0x08, f: 0x0c, v: 0x0b, "\n": -1,
};

/**
 * The argument of STRING: a Python 2 `repr` of a byte string (quoted, with backslash escapes), as bytes.
 * Returns null when it is not quoted.
 */
export function unquotePy2Repr(arg: string): Uint8Array | null {
  const q = arg[0];
  if (arg.length < 2 || (q !== "'" && q !== '"') || arg[arg.length - 1] !== q) return null;
  const body = arg.slice(1, -1);
  const out: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c !== 0x5c || i + 1 >= body.length) {
      out.push(c & 0xff);
      continue;
    }
    const e = body[i + 1] ?? "";
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      if (simple >= 0) out.push(simple);
      i += 1;
    } else if (e === "x" && /^[0-9a-fA-F]{2}$/.test(body.slice(i + 2, i + 4))) {
      out.push(parseInt(body.slice(i + 2, i + 4), 16));
      i += 3;
    } else if (/^[0-7]/.test(e)) {
      const m = /^[0-7]{1,3}/.exec(body.slice(i + 1)) ?? ["0"];
      out.push(parseInt(m[0], 8) & 0xff);
      i += m[0].length;
    } else {
      out.push(c);
    }
  }
  return Uint8Array.from(out);
}

/**
 * The argument of UNICODE: raw-unicode-escape as CPython decodes it (latin-1 text; `\uXXXX` and `\UXXXXXXXX` are
 * escapes only after an odd run of backslashes, need all their hex digits, and \U stops at U+10FFFF).
 * Null when Python would raise UnicodeDecodeError.
 */
export function decodeRawUnicodeEscape(arg: string): string | null {
  let out = "";
  for (let i = 0; i < arg.length; ) {
    if (arg[i] !== "\\") {
      out += arg[i];
      i += 1;
      continue;
    }
    const runStart = i;
    while (i < arg.length && arg[i] === "\\") i++;
    out += arg.slice(runStart, i);
    const e = arg[i];
    if ((i - runStart) % 2 === 0 || (e !== "u" && e !== "U")) continue;
    const digits = e === "u" ? 4 : 8;
    const hex = arg.slice(i + 1, i + 1 + digits);
    if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) return null;
    const cp = parseInt(hex, 16);
    if (cp > 0x10ffff) return null;
    out = out.slice(0, -1) + String.fromCodePoint(cp);
    i += 1 + digits;
  }
  return out;
}
