/** The opcodes that push text or bytes, decoded as CPython decodes them and charged to the unpickle budget. */
import type { TruecastError } from "../../errors.js";
import type { PickleBudget } from "./budget.js";
import type { Cursor } from "./cursor.js";
import { OP } from "./opcodes.js";
import { decodePy2String, decodeRawUnicodeEscape, decodeUtf8SurrogatePass, unquotePy2Repr } from "./text.js";

/**
 * Read the argument of `op` (BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, UNICODE, STRING, BINSTRING,
 * SHORT_BINSTRING, BINBYTES, SHORT_BINBYTES, BINBYTES8 or BYTEARRAY8) and return the value it pushes.
 * `bad` makes the caller's PICKLE_INVALID error.
 */
export function readStringOp(op: number, cur: Cursor, budget: PickleBudget, bad: (what: string) => TruecastError): string | Uint8Array {
  const text = (s: string | null, what: string, n: number): string => {
    if (s === null) throw bad(`${what} is not valid UTF-8 (Python refuses to load it)`);
    budget.bytes(n);
    return s;
  };
  const raw = (b: Uint8Array): Uint8Array => {
    budget.bytes(b.length);
    return new Uint8Array(b);
  };
  switch (op) {
    case OP.BINUNICODE:
    case OP.SHORT_BINUNICODE:
    case OP.BINUNICODE8: {
      const name = op === OP.BINUNICODE ? "a BINUNICODE" : op === OP.SHORT_BINUNICODE ? "a SHORT_BINUNICODE" : "a BINUNICODE8";
      const n = op === OP.BINUNICODE ? cur.u32le() : op === OP.SHORT_BINUNICODE ? cur.u8() : cur.u64leLength();
      return text(decodeUtf8SurrogatePass(cur.take(n, name)), "a string", n);
    }
    case OP.UNICODE: {
      const t = cur.line("a UNICODE");
      return text(decodeRawUnicodeEscape(t), "a UNICODE string (raw-unicode-escape)", t.length);
    }
    case OP.STRING: {
      const q = unquotePy2Repr(cur.line("a STRING"));
      if (q === null) throw bad("a STRING argument is not quoted");
      return text(decodePy2String(q), "a Python 2 string", q.length);
    }
    case OP.BINSTRING:
    case OP.SHORT_BINSTRING: {
      const n = op === OP.BINSTRING ? cur.i32le() : cur.u8();
      if (n < 0) throw bad("a BINSTRING with a negative length");
      return text(decodePy2String(cur.take(n, "a BINSTRING")), "a Python 2 string", n);
    }
    case OP.BINBYTES: return raw(cur.take(cur.u32le(), "a BINBYTES"));
    case OP.SHORT_BINBYTES: return raw(cur.take(cur.u8(), "a SHORT_BINBYTES"));
    case OP.BINBYTES8: return raw(cur.take(cur.u64leLength(), "a BINBYTES8"));
    case OP.BYTEARRAY8: return raw(cur.take(cur.u64leLength(), "a BYTEARRAY8"));
    default: throw bad(`opcode 0x${op.toString(16)} does not push text or bytes`);
  }
}
