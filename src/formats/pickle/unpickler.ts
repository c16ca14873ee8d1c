/**
 * A restricted unpickler. It interprets the opcodes of protocols 0 to 5 as data only: a global is honoured
 * only when the caller's allowlist names it (anything else is refused by name, before anything uses it), and
 * a call of an allowed global is handed to the caller's hooks, which build a plain value. Nothing is executed.
 */
import { TruecastError } from "../../errors.js";
import { Cursor } from "./cursor.js";
import { HIGHEST_PROTOCOL, OP } from "./opcodes.js";
import { decodePy2String, decodeRawUnicodeEscape, unquotePy2Repr } from "./text.js";
import { isGlobal, normalizeModule, type PickleGlobal, type PickleValue } from "./values.js";

export interface UnpickleHooks {
  /** Whether `module.name` (Python 3 module names) may be named. Anything else is refused, by name. */
  isAllowed(module: string, name: string): boolean;
  /** Advice appended to the refusal of `module.name`, when the caller has some (e.g. "save the state dict instead"). */
  refusalAdvice?(module: string, name: string): string | undefined;
  /** REDUCE, NEWOBJ, OBJ or INST of an allowed global: build a plain value from the arguments, or throw. */
  call(fn: PickleGlobal, args: readonly PickleValue[]): PickleValue;
  /** BUILD (`obj.__setstate__(state)`): the value that replaces `obj`. Without a hook, only dicts accept state (ignored). */
  build?(obj: PickleValue, state: PickleValue): PickleValue;
  /** The object a persistent id stands for; without a hook a persistent id is an error. */
  persistentLoad?(pid: PickleValue): PickleValue;
}

export interface UnpickleParams {
  readonly bytes: Uint8Array;
  /** For messages: `checkpoint.pth wants to call os.system; ...`. */
  readonly fileName: string;
  readonly hooks: UnpickleHooks;
  /** Where the pickle starts in `bytes` (several pickles may follow each other). Default 0. */
  readonly offset?: number;
}

/** Integers wider than this are refused: torch pickles nothing wider than 64 bits (its magic number is 10 bytes). */
const MAX_LONG_BYTES = 64;

const UTF8 = new TextDecoder("utf-8");

function forbidden(fileName: string, dotted: string, advice?: string): TruecastError {
  return new TruecastError("PICKLE_FORBIDDEN", `${fileName} wants to call ${dotted}; refusing to load it${advice === undefined ? "" : ` (${advice})`}`);
}

/** Little-endian two's complement, as LONG1/LONG4 store it; a safe integer becomes a number. */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i] ?? 0);
  if (((bytes[bytes.length - 1] ?? 0) & 0x80) !== 0) v -= 1n << BigInt(bytes.length * 8);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function parseDecimal(fileName: string, text: string): number | bigint {
  const t = text.endsWith("L") ? text.slice(0, -1) : text;
  if (!/^[+-]?\d+$/.test(t)) throw new TruecastError("PICKLE_INVALID", `${fileName}: "${text}" is not an integer`);
  const v = BigInt(t);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Run the restricted unpickler over `bytes` and return the pickled value. */
export function unpickle(params: UnpickleParams): PickleValue {
  return unpickleAt(params).value;
}

/** {@link unpickle}, also giving the offset just past the pickle's STOP. */
export function unpickleAt(params: UnpickleParams): { value: PickleValue; end: number } {
  const { bytes, fileName, hooks } = params;
  const cur = new Cursor(bytes, fileName, params.offset ?? 0);
  const stack: PickleValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();

  const bad = (what: string): TruecastError =>
    new TruecastError("PICKLE_INVALID", `${fileName}: ${what} (at byte ${cur.pos}); the pickle is damaged or not one torch writes`);
  const pop = (): PickleValue => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= (marks[marks.length - 1] ?? 0))) throw bad("an opcode pops an empty stack");
    return stack.pop() as PickleValue;
  };
  const top = (): PickleValue => {
    if (stack.length === 0) throw bad("an opcode reads an empty stack");
    return stack[stack.length - 1] as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const m = marks.pop();
    if (m === undefined) throw bad("an opcode needs a MARK that is not there");
    return stack.splice(m);
  };
  const global = (module: string, name: string): PickleGlobal => {
    const mod = normalizeModule(module);
    if (!hooks.isAllowed(mod, name)) throw forbidden(fileName, `${mod}.${name}`, hooks.refusalAdvice?.(mod, name));
    return { kind: "global", module: mod, name };
  };
  const call = (fn: PickleValue, args: PickleValue): PickleValue => {
    if (!isGlobal(fn)) throw new TruecastError("PICKLE_FORBIDDEN", `${fileName} wants to call a value that is not an allowed global; refusing to load it`);
    if (!Array.isArray(args)) throw bad(`the arguments of ${fn.module}.${fn.name} are not a tuple`);
    return hooks.call(fn, args);
  };
  const asMap = (v: PickleValue, op: string): Map<PickleValue, PickleValue> => {
    if (!(v instanceof Map)) throw bad(`${op} on something that is not a dict`);
    return v;
  };
  const asList = (v: PickleValue, op: string): PickleValue[] => {
    if (!Array.isArray(v) || Object.isFrozen(v)) throw bad(`${op} on something that is not a list`);
    return v as PickleValue[];
  };
  const setItems = (d: Map<PickleValue, PickleValue>, items: PickleValue[]): void => {
    if (items.length % 2 !== 0) throw bad("a dict has a key without a value");
    for (let i = 0; i < items.length; i += 2) d.set(items[i] as PickleValue, items[i + 1] as PickleValue);
  };
  const memoGet = (i: number): PickleValue => {
    if (!memo.has(i)) throw bad(`memo entry ${i} is read before it is written`);
    return memo.get(i) as PickleValue;
  };
  const tuple = (items: PickleValue[]): PickleValue => Object.freeze(items);

  for (;;) {
    const op = cur.u8("an opcode");
    switch (op) {
      case OP.PROTO: {
        const v = cur.u8();
        if (v > HIGHEST_PROTOCOL) throw bad(`pickle protocol ${v} is newer than ${HIGHEST_PROTOCOL}`);
        break;
      }
      case OP.FRAME: cur.u64leLength(); break;
      case OP.STOP: {
        if (stack.length !== 1 || marks.length !== 0) throw bad("STOP with a stack that does not hold exactly one value");
        return { value: stack[0] as PickleValue, end: cur.pos };
      }
      case OP.MARK: marks.push(stack.length); break;
      case OP.POP: pop(); break;
      case OP.POP_MARK: popMark(); break;
      case OP.DUP: stack.push(top()); break;
      case OP.NONE: stack.push(null); break;
      case OP.NEWTRUE: stack.push(true); break;
      case OP.NEWFALSE: stack.push(false); break;
      case OP.INT: {
        const t = cur.line("an INT");
        stack.push(t === "01" ? true : t === "00" ? false : parseDecimal(fileName, t));
        break;
      }
      case OP.LONG: stack.push(parseDecimal(fileName, cur.line("a LONG"))); break;
      case OP.BININT: stack.push(cur.i32le()); break;
      case OP.BININT1: stack.push(cur.u8()); break;
      case OP.BININT2: stack.push(cur.u16le()); break;
      case OP.LONG1: stack.push(decodeLong(cur.take(cur.u8(), "a LONG1"))); break;
      case OP.LONG4: {
        const n = cur.i32le();
        if (n < 0 || n > MAX_LONG_BYTES) throw bad(`a LONG4 of ${n} bytes (at most ${MAX_LONG_BYTES} accepted)`);
        stack.push(decodeLong(cur.take(n, "a LONG4")));
        break;
      }
      case OP.FLOAT: {
        const t = cur.line("a FLOAT");
        const v = Number(t);
        if (Number.isNaN(v) && !/^[+-]?nan$/i.test(t)) throw bad(`"${t}" is not a float`);
        stack.push(v);
        break;
      }
      case OP.BINFLOAT: stack.push(cur.f64be()); break;
      case OP.BINUNICODE: stack.push(UTF8.decode(cur.take(cur.u32le(), "a BINUNICODE"))); break;
      case OP.SHORT_BINUNICODE: stack.push(UTF8.decode(cur.take(cur.u8(), "a SHORT_BINUNICODE"))); break;
      case OP.BINUNICODE8: stack.push(UTF8.decode(cur.take(cur.u64leLength(), "a BINUNICODE8"))); break;
      case OP.UNICODE: stack.push(decodeRawUnicodeEscape(cur.line("a UNICODE"))); break;
      case OP.STRING: {
        const raw = unquotePy2Repr(cur.line("a STRING"));
        if (raw === null) throw bad("a STRING argument is not quoted");
        stack.push(decodePy2String(raw));
        break;
      }
      case OP.BINSTRING: {
        const n = cur.i32le();
        if (n < 0) throw bad("a BINSTRING with a negative length");
        stack.push(decodePy2String(cur.take(n, "a BINSTRING")));
        break;
      }
      case OP.SHORT_BINSTRING: stack.push(decodePy2String(cur.take(cur.u8(), "a SHORT_BINSTRING"))); break;
      case OP.BINBYTES: stack.push(new Uint8Array(cur.take(cur.u32le(), "a BINBYTES"))); break;
      case OP.SHORT_BINBYTES: stack.push(new Uint8Array(cur.take(cur.u8(), "a SHORT_BINBYTES"))); break;
      case OP.BINBYTES8: stack.push(new Uint8Array(cur.take(cur.u64leLength(), "a BINBYTES8"))); break;
      case OP.BYTEARRAY8: stack.push(new Uint8Array(cur.take(cur.u64leLength(), "a BYTEARRAY8"))); break;
      case OP.NEXT_BUFFER: throw bad("the pickle uses out-of-band buffers (protocol 5 NEXT_BUFFER), which torch checkpoints never do");
      case OP.READONLY_BUFFER: top(); break;
      case OP.EMPTY_DICT: stack.push(new Map()); break;
      case OP.EMPTY_LIST: stack.push([]); break;
      case OP.EMPTY_TUPLE: stack.push(tuple([])); break;
      case OP.EMPTY_SET: stack.push(new Set()); break;
      case OP.DICT: {
        const d = new Map<PickleValue, PickleValue>();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case OP.LIST: stack.push(popMark()); break;
      case OP.TUPLE: stack.push(tuple(popMark())); break;
      case OP.TUPLE1: { const a = pop(); stack.push(tuple([a])); break; }
      case OP.TUPLE2: { const b = pop(); const a = pop(); stack.push(tuple([a, b])); break; }
      case OP.TUPLE3: { const c = pop(); const b = pop(); const a = pop(); stack.push(tuple([a, b, c])); break; }
      case OP.FROZENSET: stack.push(new Set(popMark())); break;
      case OP.SETITEM: {
        const v = pop();
        const k = pop();
        asMap(top(), "SETITEM").set(k, v);
        break;
      }
      case OP.SETITEMS: { const items = popMark(); setItems(asMap(top(), "SETITEMS"), items); break; }
      case OP.APPEND: { const v = pop(); asList(top(), "APPEND").push(v); break; }
      case OP.APPENDS: {
        const items = popMark();
        const list = asList(top(), "APPENDS");
        for (const it of items) list.push(it); // not push(...items): a long batch would overflow the call stack
        break;
      }
      case OP.ADDITEMS: {
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) throw bad("ADDITEMS on something that is not a set");
        for (const it of items) s.add(it);
        break;
      }
      case OP.PUT: memo.set(Number(parseDecimal(fileName, cur.line("a PUT"))), top()); break;
      case OP.BINPUT: memo.set(cur.u8(), top()); break;
      case OP.LONG_BINPUT: memo.set(cur.u32le(), top()); break;
      case OP.MEMOIZE: memo.set(memo.size, top()); break;
      case OP.GET: stack.push(memoGet(Number(parseDecimal(fileName, cur.line("a GET"))))); break;
      case OP.BINGET: stack.push(memoGet(cur.u8())); break;
      case OP.LONG_BINGET: stack.push(memoGet(cur.u32le())); break;
      case OP.GLOBAL: {
        const module = cur.line("a GLOBAL module");
        const name = cur.line("a GLOBAL name");
        stack.push(global(module, name));
        break;
      }
      case OP.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") throw bad("STACK_GLOBAL with a module or name that is not a string");
        stack.push(global(module, name));
        break;
      }
      case OP.INST: {
        const fn = global(cur.line("an INST module"), cur.line("an INST name"));
        stack.push(call(fn, tuple(popMark())));
        break;
      }
      case OP.OBJ: {
        const items = popMark();
        const fn = items.shift();
        if (fn === undefined) throw bad("OBJ without a class");
        stack.push(call(fn, tuple(items)));
        break;
      }
      case OP.REDUCE: { const args = pop(); const fn = pop(); stack.push(call(fn, args)); break; }
      case OP.NEWOBJ: { const args = pop(); const cls = pop(); stack.push(call(cls, args)); break; }
      case OP.NEWOBJ_EX: {
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(kwargs instanceof Map) || kwargs.size !== 0) throw bad("NEWOBJ_EX with keyword arguments");
        stack.push(call(cls, args));
        break;
      }
      case OP.BUILD: {
        const state = pop();
        const obj = pop();
        if (hooks.build !== undefined) stack.push(hooks.build(obj, state));
        else if (obj instanceof Map) stack.push(obj);
        else throw bad("BUILD (setting an object's state) on something other than a dict");
        break;
      }
      case OP.PERSID:
      case OP.BINPERSID: {
        const pid = op === OP.PERSID ? cur.line("a PERSID") : pop();
        if (hooks.persistentLoad === undefined) throw bad("a persistent id, which only a torch checkpoint may hold");
        stack.push(hooks.persistentLoad(pid));
        break;
      }
      case OP.EXT1:
      case OP.EXT2:
      case OP.EXT4: {
        const code = op === OP.EXT1 ? cur.u8() : op === OP.EXT2 ? cur.u16le() : cur.i32le();
        throw new TruecastError("PICKLE_FORBIDDEN", `${fileName} wants to call a global from the copyreg extension registry (code ${code}); refusing to load it`);
      }
      default:
        throw bad(`unknown opcode 0x${op.toString(16).padStart(2, "0")}`);
    }
  }
}
