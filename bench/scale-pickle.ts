/**
 * The `data.pkl` that `torch.save(state_dict)` writes for a dict of contiguous tensors, one storage each, byte for
 * byte as Python's pickler (protocol 2) writes it: a dict (EMPTY_DICT, items in batches of 1000 with SETITEMS, a
 * batch of one with SETITEM), each tensor `torch._utils._rebuild_tensor_v2(<persistent id ('storage', <class>,
 * key, 'cpu', numel)>, 0, size, stride, False, collections.OrderedDict())`, the memo written after every object
 * the pickler memoizes (BINPUT, or LONG_BINPUT past 255) and reused where it reuses one (BINGET / LONG_BINGET):
 * the globals, the 'storage' and 'cpu' strings. Storage keys are "0", "1", ... in the dict's order, as torch numbers them.
 */

export interface PickledTensor {
  name: string;
  /** Storage class in module `torch`, e.g. "BFloat16Storage". */
  storageClass: string;
  shape: readonly number[];
}

const PROTO = 0x80;
const STOP = 0x2e;
const EMPTY_DICT = 0x7d;
const EMPTY_TUPLE = 0x29;
const MARK = 0x28;
const SETITEM = 0x73;
const SETITEMS = 0x75;
const TUPLE = 0x74;
const TUPLE_N = [EMPTY_TUPLE, 0x85, 0x86, 0x87];
const REDUCE = 0x52;
const NEWFALSE = 0x89;
const BINPERSID = 0x51;
const GLOBAL = 0x63;
const BINUNICODE = 0x58;
const BININT1 = 0x4b;
const BININT2 = 0x4d;
const BININT = 0x4a;
const LONG1 = 0x8a;
const BINPUT = 0x71;
const LONG_BINPUT = 0x72;
const BINGET = 0x68;
const LONG_BINGET = 0x6a;
const BATCH = 1000;

class Writer {
  private readonly parts: number[] = [];
  private readonly memo = new Map<string, number>();
  private next = 0;

  op(...b: number[]): void {
    for (const x of b) this.parts.push(x);
  }
  u32(v: number): void {
    this.op(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }
  bytes(b: Uint8Array): void {
    for (const x of b) this.parts.push(x);
  }
  /** Memoize the object just written (a new memo slot, as the pickler gives every memoized object). */
  put(key?: string): void {
    const i = this.next++;
    if (key !== undefined) this.memo.set(key, i);
    if (i < 256) this.op(BINPUT, i);
    else {
      this.op(LONG_BINPUT);
      this.u32(i);
    }
  }
  /** Write a memo reference to `key` if it was memoized; true when it was. */
  get(key: string): boolean {
    const i = this.memo.get(key);
    if (i === undefined) return false;
    if (i < 256) this.op(BINGET, i);
    else {
      this.op(LONG_BINGET);
      this.u32(i);
    }
    return true;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

const enc = new TextEncoder();

/** A str; `shared` names a string object the pickler sees again (memoized once, then fetched). */
function str(w: Writer, s: string, shared?: string): void {
  if (shared !== undefined && w.get(shared)) return;
  const b = enc.encode(s);
  w.op(BINUNICODE);
  w.u32(b.length);
  w.bytes(b);
  w.put(shared);
}

/** An int as save_long writes it in protocol 2. */
function int(w: Writer, v: number): void {
  if (!Number.isSafeInteger(v)) throw new Error(`scale-pickle: ${v} is not a safe integer`);
  if (v >= 0 && v <= 0xff) return w.op(BININT1, v);
  if (v >= 0 && v <= 0xffff) return w.op(BININT2, v & 0xff, v >>> 8);
  if (v >= -0x80000000 && v <= 0x7fffffff) {
    w.op(BININT);
    return w.u32(v);
  }
  // LONG1: little-endian two's complement, as short as it goes.
  const out: number[] = [];
  let x = BigInt(v);
  for (;;) {
    const byte = Number(x & 0xffn);
    out.push(byte);
    x >>= 8n;
    if ((x === 0n && (byte & 0x80) === 0) || (x === -1n && (byte & 0x80) !== 0)) break;
  }
  w.op(LONG1, out.length, ...out);
}

function global(w: Writer, module: string, name: string): void {
  const key = `global:${module}.${name}`;
  if (w.get(key)) return;
  w.op(GLOBAL);
  w.bytes(enc.encode(`${module}\n${name}\n`));
  w.put(key);
}

/** A tuple of ints (a size or a stride). */
function intTuple(w: Writer, items: readonly number[]): void {
  if (items.length === 0) return w.op(EMPTY_TUPLE);
  if (items.length > 3) w.op(MARK);
  for (const v of items) int(w, v);
  w.op(items.length > 3 ? TUPLE : (TUPLE_N[items.length] ?? TUPLE));
  w.put();
}

function tensor(w: Writer, t: PickledTensor, key: string): void {
  global(w, "torch._utils", "_rebuild_tensor_v2");
  w.op(MARK); // the arguments, a tuple of 6
  w.op(MARK); // the persistent id, a tuple of 5
  str(w, "storage", "str:storage");
  global(w, "torch", t.storageClass);
  str(w, key);
  str(w, "cpu", "str:cpu");
  int(w, t.shape.reduce((a, b) => a * b, 1));
  w.op(TUPLE);
  w.put();
  w.op(BINPERSID);
  int(w, 0);
  intTuple(w, t.shape);
  const stride: number[] = [];
  for (let i = t.shape.length - 1, s = 1; i >= 0; i--) {
    stride.unshift(s);
    s *= t.shape[i] ?? 1;
  }
  intTuple(w, stride);
  w.op(NEWFALSE);
  global(w, "collections", "OrderedDict");
  w.op(EMPTY_TUPLE, REDUCE);
  w.put();
  w.op(TUPLE);
  w.put();
  w.op(REDUCE);
  w.put();
}

/** data.pkl of `torch.save({name: tensor, ...})`; tensor i's storage is key String(i). */
export function pickleStateDict(tensors: readonly PickledTensor[]): Uint8Array {
  const w = new Writer();
  w.op(PROTO, 2, EMPTY_DICT);
  w.put();
  for (let b = 0; b < tensors.length; b += BATCH) {
    const batch = tensors.slice(b, b + BATCH);
    if (batch.length > 1) w.op(MARK);
    batch.forEach((t, i) => {
      str(w, t.name);
      tensor(w, t, String(b + i));
    });
    w.op(batch.length > 1 ? SETITEMS : SETITEM);
  }
  w.op(STOP);
  return w.done();
}
