/**
 * Opcode-level pickle mutations for the fuzzer: walk a pickle into opcodes, then delete, copy, replace or insert
 * opcodes, swap GLOBAL names for allowed and forbidden ones, change integer and memo arguments and tuple arities.
 */
import { OP } from "../../src/formats/pickle/opcodes.js";
import { concat, type Rng } from "./mutate.js";

/** One opcode of a pickle: where it starts and how many bytes (opcode + argument) it takes. */
export interface Op {
  readonly op: number;
  readonly pos: number;
  readonly len: number;
}

const FIXED: Record<number, number> = {
  [OP.BININT]: 4, [OP.BININT1]: 1, [OP.BININT2]: 2, [OP.BINGET]: 1, [OP.LONG_BINGET]: 4, [OP.BINPUT]: 1,
  [OP.LONG_BINPUT]: 4, [OP.BINFLOAT]: 8, [OP.PROTO]: 1, [OP.EXT1]: 1, [OP.EXT2]: 2, [OP.EXT4]: 4, [OP.FRAME]: 8,
};
const LINE1 = new Set<number>([OP.PERSID, OP.FLOAT, OP.INT, OP.LONG, OP.STRING, OP.UNICODE, OP.GET, OP.PUT]);
const LINE2 = new Set<number>([OP.GLOBAL, OP.INST]);
const LEN1 = new Set<number>([OP.SHORT_BINSTRING, OP.SHORT_BINBYTES, OP.SHORT_BINUNICODE, OP.LONG1]);
const LEN4 = new Set<number>([OP.BINSTRING, OP.BINUNICODE, OP.BINBYTES, OP.LONG4]);
const LEN8 = new Set<number>([OP.BINUNICODE8, OP.BINBYTES8, OP.BYTEARRAY8]);
const KNOWN = new Set<number>(Object.values(OP));

function lineEnd(b: Uint8Array, from: number): number {
  const i = b.indexOf(0x0a, from);
  return i < 0 ? -1 : i + 1;
}

/** The opcodes of the pickle starting at `start`, up to and including STOP; stops early at anything it cannot walk. */
export function walkPickle(b: Uint8Array, start = 0): { ops: Op[]; end: number } {
  const ops: Op[] = [];
  let p = start;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  while (p < b.length) {
    const op = b[p] as number;
    if (!KNOWN.has(op)) break;
    let next: number;
    if (FIXED[op] !== undefined) next = p + 1 + FIXED[op];
    else if (LINE1.has(op)) next = lineEnd(b, p + 1);
    else if (LINE2.has(op)) {
      const first = lineEnd(b, p + 1);
      next = first < 0 ? -1 : lineEnd(b, first);
    } else if (LEN1.has(op)) next = p + 2 + (b[p + 1] ?? 0);
    else if (LEN4.has(op)) next = p + 5 + (p + 5 <= b.length ? dv.getUint32(p + 1, true) : 0);
    else if (LEN8.has(op)) next = p + 9 + (p + 9 <= b.length ? Number(dv.getBigUint64(p + 1, true)) : 0);
    else next = p + 1;
    if (next < 0 || next > b.length) break;
    ops.push({ op, pos: p, len: next - p });
    p = next;
    if (op === OP.STOP) break;
  }
  return { ops, end: p };
}

/** The pickle without its FRAME opcodes (optional in protocol 4+), so that edits do not break frame lengths. */
export function stripFrames(b: Uint8Array): Uint8Array {
  const { ops, end } = walkPickle(b);
  return concat([...ops.filter((o) => o.op !== OP.FRAME).map((o) => b.subarray(o.pos, o.pos + o.len)), b.subarray(end)]);
}

const enc = new TextEncoder();

/** Names a torch pickle uses, plus ones the unpickler must refuse. */
export const GLOBAL_NAMES: readonly (readonly [string, string])[] = [
  ["collections", "OrderedDict"], ["torch._utils", "_rebuild_tensor_v2"], ["torch._utils", "_rebuild_parameter"],
  ["torch._utils", "_rebuild_tensor"], ["torch", "FloatStorage"], ["torch", "HalfStorage"], ["torch", "BFloat16Storage"],
  ["torch", "LongStorage"], ["torch", "BoolStorage"], ["torch", "ComplexDoubleStorage"], ["torch", "Size"], ["torch", "float32"], ["torch", "bfloat16"],
  ["torch.storage", "UntypedStorage"], ["torch.serialization", "_get_layout"], ["torch", "device"], ["builtins", "set"],
  ["_codecs", "encode"], ["builtins", "frozenset"], ["__builtin__", "set"], ["copy_reg", "_reconstructor"],
  ["os", "system"], ["builtins", "eval"], ["posix", "system"], ["builtins", "getattr"], ["subprocess", "Popen"],
  ["torch._utils", "_rebuild_qtensor"], ["torch.nn.modules.linear", "Linear"], ["torch", "\u0000evil\u001b[2J"],
];

/** Strings worth putting where a pickle has a string: storage kinds, devices, keys, dtype names, odd text. */
const STRINGS = ["storage", "cpu", "cuda:0", "0", "1", "", "weight", "model.weight", "little", "big", "x\ntruecast: ok", "\u00ff", "torch", "OrderedDict", "a".repeat(300)];

function binint(v: number): Uint8Array {
  const b = new Uint8Array(5);
  b[0] = OP.BININT;
  new DataView(b.buffer).setInt32(1, v, true);
  return b;
}

function long1(v: bigint): Uint8Array {
  const bytes: number[] = [];
  let x = v;
  for (let i = 0; i < 9; i++) {
    bytes.push(Number(BigInt.asUintN(8, x)));
    x >>= 8n;
  }
  return Uint8Array.from([OP.LONG1, bytes.length, ...bytes]);
}

function unicode(s: string): Uint8Array {
  const t = enc.encode(s);
  const b = new Uint8Array(5 + t.length);
  b[0] = OP.BINUNICODE;
  new DataView(b.buffer).setUint32(1, t.length, true);
  b.set(t, 5);
  return b;
}

const NO_ARG_OPS = [OP.MARK, OP.POP, OP.POP_MARK, OP.DUP, OP.NONE, OP.BINPERSID, OP.REDUCE, OP.APPEND, OP.BUILD, OP.DICT, OP.EMPTY_DICT,
  OP.APPENDS, OP.LIST, OP.EMPTY_LIST, OP.OBJ, OP.SETITEM, OP.TUPLE, OP.EMPTY_TUPLE, OP.SETITEMS, OP.NEWOBJ, OP.TUPLE1, OP.TUPLE2,
  OP.TUPLE3, OP.NEWTRUE, OP.NEWFALSE, OP.EMPTY_SET, OP.ADDITEMS, OP.FROZENSET, OP.NEWOBJ_EX, OP.STACK_GLOBAL, OP.MEMOIZE,
  OP.NEXT_BUFFER, OP.READONLY_BUFFER, OP.STOP];
const INTS = [0, 1, -1, 2, 3, 4, 7, 255, 256, 65535, 0x7fffffff, -0x80000000, 1 << 20];
const LONGS = [2n ** 31n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n, -1n];
const INT_OPS = new Set<number>([OP.BININT, OP.BININT1, OP.BININT2, OP.LONG1, OP.INT, OP.LONG]);
const STRING_OPS = new Set<number>([OP.SHORT_BINUNICODE, OP.BINUNICODE, OP.BINUNICODE8, OP.UNICODE, OP.STRING, OP.SHORT_BINSTRING, OP.BINSTRING]);
const MEMO_OPS = new Set<number>([OP.BINGET, OP.BINPUT, OP.LONG_BINGET, OP.LONG_BINPUT, OP.GET, OP.PUT]);
const TUPLE_OPS = [OP.TUPLE1, OP.TUPLE2, OP.TUPLE3, OP.EMPTY_TUPLE];

function memoOp(rng: Rng, op: number): Uint8Array {
  const getLike = op === OP.BINGET || op === OP.LONG_BINGET || op === OP.GET;
  const idx = rng.pick([0, 1, 2, 3, 5, 255, 256, 0x7fffffff, 0xffffffff]);
  if (idx <= 255 && rng.chance(0.5)) return Uint8Array.of(getLike ? OP.BINGET : OP.BINPUT, idx);
  const b = new Uint8Array(5);
  b[0] = getLike ? OP.LONG_BINGET : OP.LONG_BINPUT;
  new DataView(b.buffer).setUint32(1, idx, true);
  return b;
}

/**
 * One opcode-level mutation of the pickle at the start of `input` (whatever follows its STOP is kept as it is).
 * Returns null when the input has no opcodes to work on.
 */
export function mutatePickle(rng: Rng, input: Uint8Array): { bytes: Uint8Array; what: string } | null {
  const { ops, end } = walkPickle(input);
  if (ops.length === 0) return null;
  const tail = input.subarray(end);
  const seg = (o: Op) => input.subarray(o.pos, o.pos + o.len);
  const rebuild = (at: number, remove: number, insert: Uint8Array[]) =>
    concat([...ops.slice(0, at).map(seg), ...insert, ...ops.slice(at + remove).map(seg), tail]);
  const pickOp = (want: (o: Op) => boolean): number => {
    const idx = ops.map((o, i) => (want(o) ? i : -1)).filter((i) => i >= 0);
    return idx.length === 0 ? -1 : rng.pick(idx);
  };
  const i = rng.int(ops.length);
  const o = ops[i] as Op;
  switch (rng.int(9)) {
    case 0:
      return { bytes: rebuild(i, 1, []), what: `delete opcode 0x${o.op.toString(16)} at ${o.pos}` };
    case 1: {
      const j = rng.int(ops.length);
      return { bytes: rebuild(j, 0, [seg(o)]), what: `copy opcode 0x${o.op.toString(16)} from ${o.pos} before opcode ${j}` };
    }
    case 2: {
      const op = rng.pick(NO_ARG_OPS);
      return rng.chance(0.5)
        ? { bytes: rebuild(i, 0, [Uint8Array.of(op)]), what: `insert opcode 0x${op.toString(16)} at ${o.pos}` }
        : { bytes: rebuild(i, 1, [Uint8Array.of(op)]), what: `replace opcode at ${o.pos} by 0x${op.toString(16)}` };
    }
    case 3: {
      const j = pickOp((x) => x.op === OP.GLOBAL || x.op === OP.STACK_GLOBAL);
      if (j < 0) return null;
      const [mod, name] = rng.pick(GLOBAL_NAMES);
      const g = concat([Uint8Array.of(OP.GLOBAL), enc.encode(`${mod}\n${name}\n`)]);
      // A STACK_GLOBAL takes two strings from the stack: drop them with POPs, then push the new GLOBAL.
      const repl = (ops[j] as Op).op === OP.STACK_GLOBAL ? [Uint8Array.of(OP.POP, OP.POP), g] : [g];
      return { bytes: rebuild(j, 1, repl), what: `global at ${(ops[j] as Op).pos} = ${mod}.${name}` };
    }
    case 4: {
      const j = pickOp((x) => INT_OPS.has(x.op));
      if (j < 0) return null;
      const repl = rng.chance(0.7) ? binint(rng.pick(INTS)) : long1(rng.pick(LONGS));
      return { bytes: rebuild(j, 1, [repl]), what: `integer at ${(ops[j] as Op).pos} replaced` };
    }
    case 5: {
      const j = pickOp((x) => STRING_OPS.has(x.op));
      if (j < 0) return null;
      const s = rng.chance(0.5) ? rng.pick(STRINGS) : rng.pick(GLOBAL_NAMES)[rng.int(2)] as string;
      return { bytes: rebuild(j, 1, [unicode(s)]), what: `string at ${(ops[j] as Op).pos} = ${JSON.stringify(s.slice(0, 40))}` };
    }
    case 6: {
      const j = pickOp((x) => MEMO_OPS.has(x.op));
      if (j < 0) return null;
      return { bytes: rebuild(j, 1, [memoOp(rng, (ops[j] as Op).op)]), what: `memo index at ${(ops[j] as Op).pos} changed` };
    }
    case 7: {
      // Change how many arguments a call gets: another tuple arity, or one more/less element before a tuple or MARK-ed call.
      const j = pickOp((x) => (TUPLE_OPS as number[]).includes(x.op) || x.op === OP.TUPLE || x.op === OP.REDUCE);
      if (j < 0) return null;
      const t = ops[j] as Op;
      if (t.op !== OP.REDUCE && rng.chance(0.5)) {
        const op = rng.pick(TUPLE_OPS);
        return { bytes: rebuild(j, 1, [Uint8Array.of(op)]), what: `tuple at ${t.pos} becomes 0x${op.toString(16)}` };
      }
      return rng.chance(0.5) || j === 0
        ? { bytes: rebuild(j, 0, [binint(rng.pick(INTS))]), what: `extra argument before opcode at ${t.pos}` }
        : { bytes: rebuild(j - 1, 1, []), what: `argument before opcode at ${t.pos} removed` };
    }
    default: {
      // A whole range of opcodes copied elsewhere (repeats structure: memo reuse, nested calls).
      const a = rng.int(ops.length);
      const len = 1 + rng.int(Math.min(40, ops.length - a));
      const j = rng.int(ops.length);
      return { bytes: rebuild(j, 0, ops.slice(a, a + len).map(seg)), what: `copy ${len} opcodes from ${(ops[a] as Op).pos} before opcode ${j}` };
    }
  }
}
