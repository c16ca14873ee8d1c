/** Decoding of pickle's protocol-0 text arguments and of Python 2 byte strings. */

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Python 2 `str` bytes decoded as torch.load does (encoding="utf-8"); bytes that are not UTF-8 stay bytes. */
export function decodePy2String(bytes: Uint8Array): string | Uint8Array {
  try {
    return UTF8.decode(bytes);
  } catch {
    return new Uint8Array(bytes);
  }
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

/** The argument of UNICODE: raw-unicode-escape (latin-1 text with `\uXXXX` and `\UXXXXXXXX` escapes). */
export function decodeRawUnicodeEscape(arg: string): string {
  return arg.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, u4: string | undefined, u8: string | undefined) => {
    const cp = parseInt(u4 ?? u8 ?? "0", 16);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : "\ufffd";
  });
}
