/** A bounds-checked reader over pickle bytes; every multi-byte read says its byte order. */
import { TruecastError } from "../../errors.js";

/** The `cause` of the error a read past the end of the bytes throws, so a caller can retry with more bytes. */
export const END_OF_INPUT: unique symbol = Symbol("end of pickle input");

/** A text-mode (protocol 0) argument line is short; a longer one means the stream is not a pickle. */
const MAX_LINE_BYTES = 1024 * 1024;

export class Cursor {
  pos = 0;
  private readonly dv: DataView;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly fileName: string,
    start = 0,
  ) {
    this.pos = start;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get done(): boolean {
    return this.pos >= this.bytes.length;
  }

  private need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.bytes.length) {
      throw new TruecastError(
        "PICKLE_INVALID",
        `${this.fileName}: the pickle ends inside ${what} at byte ${this.pos} (needs ${n} bytes, ${this.bytes.length - this.pos} left); the file is truncated or not a pickle`,
        { cause: END_OF_INPUT },
      );
    }
  }

  u8(what = "an opcode argument"): number {
    this.need(1, what);
    return this.dv.getUint8(this.pos++);
  }

  u16le(): number {
    this.need(2, "a 2-byte argument");
    const v = this.dv.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  i32le(): number {
    this.need(4, "a 4-byte argument");
    const v = this.dv.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u32le(): number {
    this.need(4, "a 4-byte argument");
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** An 8-byte unsigned length, range-checked against what is left. */
  u64leLength(): number {
    this.need(8, "an 8-byte length");
    const v = this.dv.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(this.bytes.length - this.pos)) {
      throw new TruecastError(
        "PICKLE_INVALID",
        `${this.fileName}: an 8-byte length ${v} at byte ${this.pos - 8} runs past the end of the pickle`,
        { cause: END_OF_INPUT },
      );
    }
    return Number(v);
  }

  /** BINFLOAT is the one big-endian value in pickle. */
  f64be(): number {
    this.need(8, "a float");
    const v = this.dv.getFloat64(this.pos, false);
    this.pos += 8;
    return v;
  }

  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A protocol-0 argument: bytes up to (not including) the next newline, as latin-1 text. */
  line(what: string): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0 || end - this.pos > MAX_LINE_BYTES) {
      throw new TruecastError(
        "PICKLE_INVALID",
        `${this.fileName}: ${what} at byte ${this.pos} has no end of line; the file is not a valid pickle`,
        end < 0 ? { cause: END_OF_INPUT } : undefined,
      );
    }
    let s = "";
    for (let i = this.pos; i < end; i++) s += String.fromCharCode(this.bytes[i] ?? 0);
    this.pos = end + 1;
    return s;
  }
}
