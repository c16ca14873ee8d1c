/**
 * The memo indices a pickle reads back (GET, BINGET, LONG_BINGET), found by one pass over its opcodes before it is
 * unpickled. CPython's pickler memoizes every tuple, string and object it writes, but a torch state dict reads back
 * only a handful of them (the rebuild function, 'storage', the storage classes, 'cpu'): the unpickler keeps just
 * those, and every other value is free to become garbage as soon as it is used, instead of living until STOP.
 *
 * The pass skips each opcode's argument exactly as the unpickler reads it and allocates nothing per opcode. Where it
 * cannot follow the stream (an unknown opcode, a truncated argument) it gives up and answers "every index is read":
 * the unpickler then keeps everything, and stops with its own error at the same place.
 */
import type { PickleBudget } from "./budget.js";
import { parseDecimal } from "./numbers.js";
import { OP } from "./opcodes.js";

/** Which memo indices the pickle reads. */
export interface MemoReads {
  has(index: number): boolean;
}

const EVERY_INDEX: MemoReads = { has: () => true };

/** Opcodes without an argument. */
const BARE = new Set<number>([
  OP.MARK, OP.POP, OP.POP_MARK, OP.DUP, OP.NONE, OP.BINPERSID, OP.REDUCE, OP.APPEND, OP.BUILD, OP.DICT, OP.EMPTY_DICT,
  OP.APPENDS, OP.LIST, OP.EMPTY_LIST, OP.OBJ, OP.SETITEM, OP.TUPLE, OP.EMPTY_TUPLE, OP.SETITEMS, OP.NEWOBJ, OP.TUPLE1,
  OP.TUPLE2, OP.TUPLE3, OP.NEWTRUE, OP.NEWFALSE, OP.EMPTY_SET, OP.ADDITEMS, OP.FROZENSET, OP.NEWOBJ_EX, OP.STACK_GLOBAL,
  OP.MEMOIZE, OP.NEXT_BUFFER, OP.READONLY_BUFFER,
]);
/** Opcodes with a fixed-size argument, and its size. */
const FIXED = new Map<number, number>([
  [OP.PROTO, 1], [OP.BININT1, 1], [OP.BINPUT, 1], [OP.EXT1, 1], [OP.BININT2, 2], [OP.EXT2, 2], [OP.BININT, 4],
  [OP.LONG_BINPUT, 4], [OP.EXT4, 4], [OP.BINFLOAT, 8],
]);
/** Opcodes whose argument is a length of 1, 4 or 8 bytes (little-endian), then that many bytes. */
const COUNTED = new Map<number, number>([
  [OP.LONG1, 1], [OP.SHORT_BINSTRING, 1], [OP.SHORT_BINBYTES, 1], [OP.SHORT_BINUNICODE, 1],
  [OP.LONG4, 4], [OP.BINSTRING, 4], [OP.BINUNICODE, 4], [OP.BINBYTES, 4],
  [OP.BINUNICODE8, 8], [OP.BINBYTES8, 8], [OP.BYTEARRAY8, 8],
]);
/** Opcodes whose argument is one line (protocol 0), or two. */
const LINES = new Map<number, number>([
  [OP.FLOAT, 1], [OP.INT, 1], [OP.LONG, 1], [OP.STRING, 1], [OP.UNICODE, 1], [OP.PERSID, 1], [OP.PUT, 1], [OP.GET, 1],
  [OP.GLOBAL, 2], [OP.INST, 2],
]);

/**
 * The memo indices read by the pickle that starts at `offset` of `bytes`, up to its STOP. Each distinct index is
 * charged to `budget` as a memo entry kept out of order (the set holding them grows with the pickle).
 */
export function memoReads(bytes: Uint8Array, offset: number, budget: PickleBudget): MemoReads {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read = new Set<number>();
  const note = (i: number): void => {
    if (read.has(i)) return;
    budget.memoRead();
    read.add(i);
  };
  let p = offset;
  while (p < bytes.length) {
    const op = bytes[p++] as number;
    if (op === OP.STOP) return read;
    if (BARE.has(op) || op === OP.FRAME) {
      if (op === OP.FRAME) p += 8; // a frame only groups the opcodes that follow
      continue;
    }
    const fixed = FIXED.get(op);
    if (fixed !== undefined) {
      p += fixed;
      continue;
    }
    if (op === OP.BINGET || op === OP.LONG_BINGET) {
      const wide = op === OP.LONG_BINGET;
      if (p + (wide ? 4 : 1) > bytes.length) return EVERY_INDEX;
      note(wide ? dv.getUint32(p, true) : (bytes[p] as number));
      p += wide ? 4 : 1;
      continue;
    }
    const counted = COUNTED.get(op);
    if (counted !== undefined) {
      if (p + counted > bytes.length) return EVERY_INDEX;
      const n = counted === 1 ? (bytes[p] as number) : counted === 4 ? dv.getInt32(p, true) : Number(dv.getBigUint64(p, true));
      if (n < 0 || !Number.isSafeInteger(n)) return EVERY_INDEX;
      p += counted + n;
      continue;
    }
    const lines = LINES.get(op);
    if (lines === undefined) return EVERY_INDEX;
    for (let l = 0; l < lines; l++) {
      const end = bytes.indexOf(0x0a, p);
      if (end < 0) return EVERY_INDEX;
      if (op === OP.GET) {
        let text = "";
        for (let i = p; i < end; i++) text += String.fromCharCode(bytes[i] as number);
        const i = parseDecimal(text);
        if (typeof i !== "number" || i < 0) return EVERY_INDEX;
        note(i);
      }
      p = end + 1;
    }
  }
  return EVERY_INDEX;
}
