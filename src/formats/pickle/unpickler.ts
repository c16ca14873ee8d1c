/**
 * A restricted unpickler. It interprets the opcodes of protocols 0 to 5 as data only: a global is honoured
 * only when the caller's allowlist names it (anything else is refused by name, before anything uses it), and
 * a call of an allowed global is handed to the caller's hooks, which build a plain value. Nothing is executed.
 */
import { TruecastError } from "../../errors.js";
import { PickleBudget, type BudgetLimits } from "./budget.js";
import { Cursor } from "./cursor.js";
import { Memo } from "./memo.js";
import { memoReads } from "./memo-reads.js";
import { decodeLong, parseDecimal, parseFloatArg } from "./numbers.js";
import { HIGHEST_PROTOCOL, OP } from "./opcodes.js";
import { readStringOp } from "./string-ops.js";
import { isGlobal, normalizeModule, type PickleGlobal, type PickleValue } from "./values.js";

export interface UnpickleHooks {
  /** Whether `module.name` (Python 3 module names) may be named. Anything else is refused, by name. */
  isAllowed(module: string, name: string): boolean;
  /** Advice appended to the refusal of `module.name`, when the caller has some (e.g. "save the state dict instead"). */
  refusalAdvice?(module: string, name: string): string | undefined;
  /**
   * REDUCE, OBJ or INST (`how` "call": `fn(*args)`) or NEWOBJ / NEWOBJ_EX (`how` "new": `fn.__new__(fn, *args)`)
   * of an allowed global: build a plain value from the arguments, or throw. The unpickler has charged the budget
   * for one object; a hook must charge, before making them, every slot, table and byte it copies or creates
   * (a memoized argument can be passed again for free, so an uncharged copy is a memory bomb). A hook never keeps
   * the `args` tuple itself (the unpickler refunds it afterwards); it marks shared ({@link PickleBudget.share}) every
   * container of the arguments it puts into what it returns, and may pass to {@link CallContext.release} those it
   * has used up.
   */
  call(fn: PickleGlobal, args: readonly PickleValue[], ctx: CallContext): PickleValue;
  /**
   * BUILD (`obj.__setstate__(state)`): the value that replaces `obj`. Without a hook, only dicts accept state
   * (ignored). The state is refunded afterwards: a hook keeps no container of it.
   */
  build?(obj: PickleValue, state: PickleValue): PickleValue;
  /** The object a persistent id stands for (keeping no container of `pid`, which is refunded); without a hook a persistent id is an error. */
  persistentLoad?(pid: PickleValue, budget: PickleBudget): PickleValue;
}

export interface CallContext {
  readonly how: "call" | "new";
  readonly budget: PickleBudget;
  /**
   * Refund an argument the hook used up and keeps nothing of, with every container inside it (only `arg` itself
   * when `deep` is false), when the arguments are the call's alone. Each is refunded once.
   */
  readonly release: (arg: PickleValue, deep?: boolean) => void;
}

export interface UnpickleParams {
  readonly bytes: Uint8Array;
  /** For messages: `checkpoint.pth wants to call os.system; ...`. */
  readonly fileName: string;
  readonly hooks: UnpickleHooks;
  /** Where the pickle starts in `bytes` (several pickles may follow each other). Default 0. */
  readonly offset?: number;
  /** Limits of what the pickle may build; default {@link budgetLimits} of the bytes from `offset` on. */
  readonly limits?: BudgetLimits;
}

/** Integers wider than this are refused: torch pickles nothing wider than 64 bits (its magic number is 10 bytes). */
const MAX_LONG_BYTES = 64;

function forbidden(fileName: string, dotted: string, advice?: string): TruecastError {
  return new TruecastError("PICKLE_FORBIDDEN", `${fileName} wants to call ${dotted}; refusing to load it${advice === undefined ? "" : ` (${advice})`}`);
}

/** A list, dict or set cannot be a dict key or set element: Python raises TypeError (unhashable type). */
function unhashable(v: PickleValue): boolean {
  return (Array.isArray(v) && !Object.isFrozen(v)) || v instanceof Map || (v instanceof Set && !Object.isFrozen(v));
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
  const budget = new PickleBudget(fileName, bytes.length - (params.offset ?? 0), params.limits);
  const memo = new Memo(budget, memoReads(bytes, params.offset ?? 0, budget));

  const bad = (what: string): TruecastError =>
    new TruecastError("PICKLE_INVALID", `${fileName}: ${what} (at byte ${cur.pos}); the pickle is damaged or not one torch writes`);
  // Like CPython, no opcode reaches below the innermost MARK except those that pop it.
  const fence = (): number => marks[marks.length - 1] ?? 0;
  const pop = (): PickleValue => {
    if (stack.length <= fence()) throw bad("an opcode pops an empty stack");
    return stack.pop() as PickleValue;
  };
  const top = (): PickleValue => {
    if (stack.length <= fence()) throw bad("an opcode reads an empty stack");
    return stack[stack.length - 1] as PickleValue;
  };
  const push = (v: PickleValue): void => {
    budget.stack(stack.length);
    stack.push(v);
  };
  /** A new container of `slots` elements. */
  const made = <T extends PickleValue>(v: T, slots = 0): T => {
    if (v instanceof Map || v instanceof Set) budget.table(slots);
    else budget.object(slots);
    return v;
  };
  const index = (t: string, what: string): number => {
    const v = parseDecimal(t);
    if (typeof v !== "number" || v < 0) throw bad(`${what} argument "${t}" is not a non-negative integer`);
    return v;
  };
  const integer = (t: string, what: string): number | bigint => {
    const v = parseDecimal(t);
    if (v === null) throw bad(`${what} argument "${t}" is not a decimal integer`);
    return v;
  };
  const hashable = (v: PickleValue, what: string): PickleValue => {
    if (unhashable(v)) throw bad(`${what} is a list, dict or set, which Python cannot hash`);
    return v;
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
  const call = (fn: PickleValue, args: PickleValue, how: CallContext["how"] = "call"): PickleValue => {
    if (!isGlobal(fn)) throw new TruecastError("PICKLE_FORBIDDEN", `${fileName} wants to call a value that is not an allowed global; refusing to load it`);
    if (!Array.isArray(args) || !Object.isFrozen(args)) throw bad(`the arguments of ${fn.module}.${fn.name} are not a tuple`);
    budget.object(); // the result; the hook charges whatever it copies or creates beyond that
    const owned = !budget.isShared(args);
    const release = (v: PickleValue, deep = true): void => {
      if (owned) budget.release(v, deep);
    };
    const result = hooks.call(fn, args, { how, budget, release });
    if (result !== args) budget.release(args, false); // the tuple itself: the hook refunded what it used up
    return result;
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
    budget.slots(items.length);
    for (let i = 0; i < items.length; i += 2) d.set(hashable(items[i] as PickleValue, "a dict key"), items[i + 1] as PickleValue);
  };
  const memoPut = (i: number): void => {
    memo.set(i, top());
  };
  const memoGet = (i: number): PickleValue => {
    if (!memo.has(i)) throw bad(`memo entry ${i} is read before it is written`);
    return memo.get(i) as PickleValue;
  };
  const tuple = (items: PickleValue[]): PickleValue => made(Object.freeze(items), items.length);

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
      case OP.MARK: budget.mark(marks.length); marks.push(stack.length); break;
      case OP.POP: budget.release(pop()); break;
      case OP.POP_MARK: for (const v of popMark()) budget.release(v); break;
      case OP.DUP: budget.share(top()); push(top()); break;
      case OP.NONE: push(null); break;
      case OP.NEWTRUE: push(true); break;
      case OP.NEWFALSE: push(false); break;
      case OP.INT: {
        const t = cur.line("an INT");
        push(t === "01" ? true : t === "00" ? false : integer(t, "an INT"));
        break;
      }
      case OP.LONG: push(integer(cur.line("a LONG"), "a LONG")); break;
      case OP.BININT: push(cur.i32le()); break;
      case OP.BININT1: push(cur.u8()); break;
      case OP.BININT2: push(cur.u16le()); break;
      case OP.LONG1: push(decodeLong(cur.take(cur.u8(), "a LONG1"))); break;
      case OP.LONG4: {
        const n = cur.i32le();
        if (n < 0 || n > MAX_LONG_BYTES) throw bad(`a LONG4 of ${n} bytes (at most ${MAX_LONG_BYTES} accepted)`);
        push(decodeLong(cur.take(n, "a LONG4")));
        break;
      }
      case OP.FLOAT: {
        const t = cur.line("a FLOAT");
        const v = parseFloatArg(t);
        if (v === null) throw bad(`"${t}" is not a float Python reads`);
        push(v);
        break;
      }
      case OP.BINFLOAT: push(cur.f64be()); break;
      case OP.BINUNICODE:
      case OP.SHORT_BINUNICODE:
      case OP.BINUNICODE8:
      case OP.UNICODE:
      case OP.STRING:
      case OP.BINSTRING:
      case OP.SHORT_BINSTRING:
      case OP.BINBYTES:
      case OP.SHORT_BINBYTES:
      case OP.BINBYTES8:
      case OP.BYTEARRAY8:
        push(readStringOp(op, cur, budget, bad));
        break;
      case OP.NEXT_BUFFER: throw bad("the pickle uses out-of-band buffers (protocol 5 NEXT_BUFFER), which torch checkpoints never do");
      case OP.READONLY_BUFFER: if (!(top() instanceof Uint8Array)) throw bad("READONLY_BUFFER on something that is not bytes"); break;
      case OP.EMPTY_DICT: push(made(new Map())); break;
      case OP.EMPTY_LIST: push(made([])); break;
      case OP.EMPTY_TUPLE: push(tuple([])); break;
      case OP.EMPTY_SET: push(made(new Set())); break;
      case OP.DICT: {
        const d = made(new Map<PickleValue, PickleValue>());
        setItems(d, popMark());
        push(d);
        break;
      }
      case OP.LIST: { const items = popMark(); push(made(items, items.length)); break; }
      case OP.TUPLE: push(tuple(popMark())); break;
      case OP.TUPLE1: { const a = pop(); push(tuple([a])); break; }
      case OP.TUPLE2: { const b = pop(); const a = pop(); push(tuple([a, b])); break; }
      case OP.TUPLE3: { const c = pop(); const b = pop(); const a = pop(); push(tuple([a, b, c])); break; }
      case OP.FROZENSET: {
        const items = popMark();
        push(made(Object.freeze(new Set(items.map((v) => hashable(v, "a frozenset element")))), items.length));
        break;
      }
      case OP.SETITEM: {
        const v = pop();
        const k = pop();
        setItems(asMap(top(), "SETITEM"), [k, v]);
        break;
      }
      case OP.SETITEMS: { const items = popMark(); setItems(asMap(top(), "SETITEMS"), items); break; }
      case OP.APPEND: { const v = pop(); asList(top(), "APPEND").push(v); budget.slots(1); break; }
      case OP.APPENDS: {
        const items = popMark();
        const list = asList(top(), "APPENDS");
        budget.slots(items.length);
        for (const it of items) list.push(it); // not push(...items): a long batch would overflow the call stack
        break;
      }
      case OP.ADDITEMS: {
        const items = popMark();
        const s = top();
        if (!(s instanceof Set) || Object.isFrozen(s)) throw bad("ADDITEMS on something that is not a set");
        budget.slots(items.length);
        for (const it of items) s.add(hashable(it, "a set element"));
        break;
      }
      case OP.PUT: memoPut(index(cur.line("a PUT"), "a PUT")); break;
      case OP.BINPUT: memoPut(cur.u8()); break;
      case OP.LONG_BINPUT: memoPut(cur.u32le()); break;
      case OP.MEMOIZE: memoPut(memo.size); break;
      case OP.GET: push(memoGet(index(cur.line("a GET"), "a GET"))); break;
      case OP.BINGET: push(memoGet(cur.u8())); break;
      case OP.LONG_BINGET: push(memoGet(cur.u32le())); break;
      case OP.GLOBAL: {
        const module = cur.line("a GLOBAL module");
        const name = cur.line("a GLOBAL name");
        push(made(global(module, name)));
        break;
      }
      case OP.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") throw bad("STACK_GLOBAL with a module or name that is not a string");
        push(made(global(module, name)));
        break;
      }
      case OP.INST: {
        const fn = global(cur.line("an INST module"), cur.line("an INST name"));
        push(call(fn, tuple(popMark())));
        break;
      }
      case OP.OBJ: {
        const items = popMark();
        const fn = items.shift();
        if (fn === undefined) throw bad("OBJ without a class");
        push(call(fn, tuple(items)));
        break;
      }
      case OP.REDUCE: { const args = pop(); const fn = pop(); push(call(fn, args)); break; }
      case OP.NEWOBJ: { const args = pop(); const cls = pop(); push(call(cls, args, "new")); break; }
      case OP.NEWOBJ_EX: {
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(kwargs instanceof Map) || kwargs.size !== 0) throw bad("NEWOBJ_EX with keyword arguments");
        push(call(cls, args, "new"));
        break;
      }
      case OP.BUILD: {
        const state = pop();
        const obj = pop();
        if (hooks.build !== undefined) push(hooks.build(obj, state));
        else if (obj instanceof Map && (state === null || (state instanceof Map && state.size === 0))) push(obj);
        else throw bad("BUILD (setting an object's state) on something other than a dict");
        if (top() !== state) budget.release(state);
        break;
      }
      case OP.PERSID:
      case OP.BINPERSID: {
        const pid = op === OP.PERSID ? cur.line("a PERSID") : pop();
        if (hooks.persistentLoad === undefined) throw bad("a persistent id, which only a torch checkpoint may hold");
        budget.object();
        const v = hooks.persistentLoad(pid, budget);
        if (v !== pid) budget.release(pid);
        push(v);
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
