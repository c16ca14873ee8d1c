/** Builds pickles opcode by opcode for tests. */
import { OP } from "../../../src/formats/pickle/opcodes.js";

const enc = new TextEncoder();

export type Part = number | Uint8Array | readonly Part[];

function flat(parts: readonly Part[], out: number[]): number[] {
  for (const p of parts) {
    if (typeof p === "number") out.push(p);
    else if (p instanceof Uint8Array) for (const b of p) out.push(b);
    else flat(p, out);
  }
  return out;
}

/** Concatenate opcodes and arguments. */
export function bytes(...parts: Part[]): Uint8Array {
  return Uint8Array.from(flat(parts, []));
}

/** `PROTO 2`, the parts, `STOP`. */
export function pickle(...parts: Part[]): Uint8Array {
  return bytes(OP.PROTO, 2, ...parts, OP.STOP);
}

export const u32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

export const text = (s: string): Uint8Array => enc.encode(s);

export const str = (s: string): Part => {
  const b = enc.encode(s);
  return [OP.BINUNICODE, ...u32(b.length), b];
};

export const int = (v: number): Part => (v >= 0 && v < 256 ? [OP.BININT1, v] : [OP.BININT, ...u32(v)]);

export const global = (module: string, name: string): Part => [OP.GLOBAL, enc.encode(`${module}\n${name}\n`)];

export const tuple = (...items: Part[]): Part => [OP.MARK, ...items, OP.TUPLE];

/** `fn(*args)` through REDUCE. */
export const call = (fn: Part, ...args: Part[]): Part => [fn, tuple(...args), OP.REDUCE];

/** A dict built with EMPTY_DICT, MARK, pairs, SETITEMS. */
export const dict = (...pairs: Array<[Part, Part]>): Part => [OP.EMPTY_DICT, OP.MARK, ...pairs.flat(), OP.SETITEMS];

/** A torch tensor: `_rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())`. */
export function tensor(params: { cls: string; key: string; numel: number; offset: number; size: number[]; stride: number[] }): Part {
  const pid = tuple(str("storage"), global("torch", params.cls), str(params.key), str("cpu"), int(params.numel));
  return call(
    global("torch._utils", "_rebuild_tensor_v2"),
    [pid, OP.BINPERSID],
    int(params.offset),
    tuple(...params.size.map(int)),
    tuple(...params.stride.map(int)),
    OP.NEWFALSE,
    call(global("collections", "OrderedDict")),
  );
}
