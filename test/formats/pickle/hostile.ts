/**
 * Generators of hostile pickles and zips, written byte by byte at test time: small files that ask the reader
 * for gigabytes (allowed calls repeated on one memoized value, floods of one-byte opcodes) or for millions of
 * zip records. Each pickle is a valid torch state dict around its payload, so only the payload can be refused.
 */
import { OP } from "../../../src/formats/pickle/opcodes.js";
import { bytes, dict, global, pickle, str, tensor, u32, type Part } from "./builder.js";
import { buildTorchZip } from "../torch/zip-builder.js";

const enc = new TextEncoder();
const put = (i: number): Part => [OP.LONG_BINPUT, ...u32(i)];
const get = (i: number): Part => [OP.LONG_BINGET, ...u32(i)];
const u16 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff];
/** A memo slot no builder helper uses. */
const M = 1000;

/** `{"w": <2 floats>, "junk": payload}` as a torch.save zip. */
export function stateDictZip(payload: Part): Uint8Array {
  const pkl = pickle(dict(
    [str("w"), tensor({ cls: "FloatStorage", key: "0", numel: 2, offset: 0, size: [2], stride: [1] })],
    [str("junk"), payload],
  ));
  return buildTorchZip({ pickle: pkl, storages: { "0": new Uint8Array(new Float32Array([1, 2]).buffer) } });
}

/** A list built as `]` + MARK + items + APPENDS, memoized at `slot` and left on the stack. */
function memoList(slot: number, items: Part[]): Part {
  return [OP.EMPTY_LIST, put(slot), OP.MARK, ...items, OP.APPENDS];
}

/** `[fn(*args) for _ in range(times)]` where fn and every argument are memo reads: each call costs 13-18 bytes. */
function repeatCalls(fnSlot: number, argSlots: number[], times: number): Part {
  const tupleOp = [OP.EMPTY_TUPLE, OP.TUPLE1, OP.TUPLE2, OP.TUPLE3][argSlots.length] as number;
  const one = bytes(get(fnSlot), ...argSlots.map(get), tupleOp, OP.REDUCE, OP.APPEND);
  const out = new Uint8Array(one.length * times);
  for (let i = 0; i < times; i++) out.set(one, i * one.length);
  return [OP.EMPTY_LIST, out];
}

/** `builtins.set(big_list)` 3,000 times (~0.5 MB of pickle), or `calls` times (13 bytes each). */
export function setBomb(calls = 3000): Uint8Array {
  const ints: Part[] = Array.from({ length: 170_000 }, (_, i) => [OP.BININT2, ...u16(i)]);
  return stateDictZip([memoList(M, ints), OP.POP, global("builtins", "set"), put(M + 1), OP.POP, repeatCalls(M + 1, [M], calls)]);
}

/** `_codecs.encode(one_MB_string, "latin1")` 2,000 times: ~1 MB of pickle. */
export function encodeBomb(): Uint8Array {
  const text = new Uint8Array(1024 * 1024).fill(0x61);
  return stateDictZip([
    OP.BINUNICODE, ...u32(text.length), text, put(M), OP.POP,
    str("latin1"), put(M + 1), OP.POP,
    global("_codecs", "encode"), put(M + 2), OP.POP,
    repeatCalls(M + 2, [M, M + 1], 2000),
  ]);
}

/** `collections.OrderedDict(list_of_50k_pairs)` 3,000 times. */
export function orderedDictBomb(): Uint8Array {
  const pairs: Part[] = Array.from({ length: 50_000 }, (_, i) => [OP.BININT2, ...u16(i), OP.NONE, OP.TUPLE2]);
  return stateDictZip([memoList(M, pairs), OP.POP, global("collections", "OrderedDict"), put(M + 1), OP.POP, repeatCalls(M + 1, [M], 3000)]);
}

/** `torch.Size(tuple_of_150k_ints)` 3,000 times. */
export function sizeBomb(): Uint8Array {
  const ints: Part[] = Array.from({ length: 150_000 }, (_, i) => [OP.BININT2, ...u16(i)]);
  return stateDictZip([OP.MARK, ...ints, OP.TUPLE, put(M), OP.POP, global("torch", "Size"), put(M + 1), OP.POP, repeatCalls(M + 1, [M], 3000)]);
}

/** `n` bytes of one opcode that pushes a new value (`}` EMPTY_DICT by default), inside a state dict. */
export function opcodeFlood(op: number, n: number): Uint8Array {
  return stateDictZip([new Uint8Array(n).fill(op), OP.LIST]);
}

/**
 * A torch.save-like zip with `extra` more records. With `sharedHeader`, the extra records exist only in the central
 * directory and all point at one local header (the `version` record's); otherwise each has its own empty record.
 * Always ZIP64 (more than 65,535 records).
 */
export function manyRecordsZip(params: { extra: number; sharedHeader: boolean }): Uint8Array {
  const pkl = pickle(dict([str("w"), tensor({ cls: "FloatStorage", key: "0", numel: 2, offset: 0, size: [2], stride: [1] })]));
  const base: Array<[string, Uint8Array]> = [
    ["archive/data.pkl", pkl],
    ["archive/data/0", new Uint8Array(new Float32Array([1, 2]).buffer)],
    ["archive/version", enc.encode("3\n")],
  ];
  const nameBytes = 10 + String(params.extra).length;
  const count = base.length + params.extra;
  const localSize = base.reduce((a, [n, d]) => a + 30 + n.length + d.length, 0) + (params.sharedHeader ? 0 : params.extra * (30 + nameBytes));
  const cdSize = base.reduce((a, [n]) => a + 46 + n.length, 0) + params.extra * (46 + nameBytes);
  const out = Buffer.alloc(localSize + cdSize + 56 + 20 + 22);
  let p = 0;
  const offsets: number[] = [];
  const local = (name: Uint8Array, data: Uint8Array): void => {
    offsets.push(p);
    out.writeUInt32LE(0x04034b50, p); out.writeUInt16LE(20, p + 4);
    out.writeUInt32LE(data.length, p + 18); out.writeUInt32LE(data.length, p + 22);
    out.writeUInt16LE(name.length, p + 26);
    out.set(name, p + 30); out.set(data, p + 30 + name.length);
    p += 30 + name.length + data.length;
  };
  for (const [n, d] of base) local(enc.encode(n), d);
  const shared = offsets[2] ?? 0;
  const padded = (i: number): Uint8Array => enc.encode(`archive/x/${String(i).padStart(nameBytes - 10, "0")}`);
  if (!params.sharedHeader) for (let i = 0; i < params.extra; i++) local(padded(i), new Uint8Array(0));
  const cdOffset = p;
  const central = (name: Uint8Array, size: number, offset: number): void => {
    out.writeUInt32LE(0x02014b50, p); out.writeUInt16LE(20, p + 4); out.writeUInt16LE(20, p + 6);
    out.writeUInt32LE(size, p + 20); out.writeUInt32LE(size, p + 24);
    out.writeUInt16LE(name.length, p + 28); out.writeUInt32LE(offset, p + 42);
    out.set(name, p + 46);
    p += 46 + name.length;
  };
  for (const [i, [n, d]] of base.entries()) central(enc.encode(n), d.length, offsets[i] ?? 0);
  for (let i = 0; i < params.extra; i++) central(padded(i), 0, params.sharedHeader ? shared : (offsets[base.length + i] ?? 0));
  const eocd64 = p;
  out.writeUInt32LE(0x06064b50, p); out.writeBigUInt64LE(44n, p + 4); out.writeUInt16LE(45, p + 12); out.writeUInt16LE(45, p + 14);
  out.writeBigUInt64LE(BigInt(count), p + 24); out.writeBigUInt64LE(BigInt(count), p + 32);
  out.writeBigUInt64LE(BigInt(p - cdOffset), p + 40); out.writeBigUInt64LE(BigInt(cdOffset), p + 48);
  p += 56;
  out.writeUInt32LE(0x07064b50, p); out.writeBigUInt64LE(BigInt(eocd64), p + 8); out.writeUInt32LE(1, p + 16);
  p += 20;
  out.writeUInt32LE(0x06054b50, p); out.writeUInt16LE(0xffff, p + 8); out.writeUInt16LE(0xffff, p + 10);
  out.writeUInt32LE(0xffffffff, p + 12); out.writeUInt32LE(0xffffffff, p + 16);
  p += 22;
  return new Uint8Array(out.buffer, out.byteOffset, p);
}

/**
 * `n` bytes of `[_rebuild_tensor_v2(storage, 0, (2,), (1,), False, od), ...]`, every argument but the tuple a memo
 * read (32 bytes a tensor): the most tensors a pickle's bytes can keep alive.
 */
export function tensorFlood(n: number): Uint8Array {
  const pid: Part = [OP.MARK, str("storage"), global("torch", "FloatStorage"), str("0"), str("cpu"), OP.BININT1, 2, OP.TUPLE, OP.BINPERSID];
  const one = bytes(get(M + 4), OP.MARK, get(M), OP.BININT1, 0, get(M + 1), get(M + 2), OP.NEWFALSE, get(M + 3), OP.TUPLE, OP.REDUCE, OP.APPEND);
  const times = Math.floor(n / one.length);
  const calls = new Uint8Array(one.length * times);
  for (let i = 0; i < times; i++) calls.set(one, i * one.length);
  return stateDictZip([
    pid, put(M), OP.POP,
    OP.BININT1, 2, OP.TUPLE1, put(M + 1), OP.POP,
    OP.BININT1, 1, OP.TUPLE1, put(M + 2), OP.POP,
    global("collections", "OrderedDict"), OP.EMPTY_TUPLE, OP.REDUCE, put(M + 3), OP.POP,
    global("torch._utils", "_rebuild_tensor_v2"), put(M + 4), OP.POP,
    OP.EMPTY_LIST, calls,
  ]);
}

/** `_rebuild_tensor_v2(storage, 0, (1,)*150k, (0,)*150k, False, od)` 3,000 times: each call copies both tuples. */
export function tensorShapeBomb(): Uint8Array {
  const ones: Part[] = Array.from({ length: 150_000 }, () => [OP.BININT1, 1]);
  const zeros: Part[] = Array.from({ length: 150_000 }, () => [OP.BININT1, 0]);
  const pid: Part = [OP.MARK, str("storage"), global("torch", "FloatStorage"), str("0"), str("cpu"), OP.BININT1, 2, OP.TUPLE, OP.BINPERSID];
  const one = bytes(get(M + 4), OP.MARK, get(M), OP.BININT1, 0, get(M + 1), get(M + 2), OP.NEWFALSE, get(M + 3), OP.TUPLE, OP.REDUCE, OP.APPEND);
  const calls = new Uint8Array(one.length * 3000);
  for (let i = 0; i < 3000; i++) calls.set(one, i * one.length);
  return stateDictZip([
    pid, put(M), OP.POP,
    OP.MARK, ...ones, OP.TUPLE, put(M + 1), OP.POP,
    OP.MARK, ...zeros, OP.TUPLE, put(M + 2), OP.POP,
    global("collections", "OrderedDict"), OP.EMPTY_TUPLE, OP.REDUCE, put(M + 3), OP.POP,
    global("torch._utils", "_rebuild_tensor_v2"), put(M + 4), OP.POP,
    OP.EMPTY_LIST, calls,
  ]);
}

/** `n` bytes of `}a` pairs into one list: every dict stays alive (nothing is garbage), unlike a bare flood. */
export function retainedFlood(n: number): Uint8Array {
  const pairs = new Uint8Array(n);
  for (let i = 0; i < n; i += 2) {
    pairs[i] = OP.EMPTY_DICT;
    pairs[i + 1] = OP.APPEND;
  }
  return stateDictZip([OP.EMPTY_LIST, pairs.subarray(0, n - (n % 2))]);
}

/** One value memoized at `n` distinct memo indices (LONG_BINPUT, 5 bytes each): a memo table that grows for free. */
export function memoFlood(n: number): Uint8Array {
  const puts = new Uint8Array(5 * n);
  for (let i = 0; i < n; i++) puts.set([OP.LONG_BINPUT, ...u32(M + i)], 5 * i);
  return stateDictZip([OP.NONE, puts]);
}
