/**
 * The plain Python callables a torch pickle may name (`collections.OrderedDict`, `builtins.set`, `frozenset`,
 * `bytes`, `_codecs.encode`, `torch.Size`), built as Python builds them: with the argument counts and types
 * Python accepts, and refused where Python would raise. Each charges the unpickle budget for what it copies,
 * before copying it.
 */
import { TruecastError } from "../../errors.js";
import type { CallContext } from "../pickle/unpickler.js";
import type { PickleValue } from "../pickle/values.js";

/** The OrderedDicts these hooks built: only they (not plain dicts) take attribute state through BUILD. */
export type OrderedDicts = WeakSet<Map<PickleValue, PickleValue>>;

function unhashable(v: PickleValue): boolean {
  return (Array.isArray(v) && !Object.isFrozen(v)) || v instanceof Map || (v instanceof Set && !Object.isFrozen(v));
}

/**
 * Build `dotted(*args)` (or `dotted.__new__(dotted, *args)` for NEWOBJ), or return undefined when `dotted` is
 * not one of these callables. `invalid` makes the caller's error.
 */
export function callPythonBuiltin(
  dotted: string,
  args: readonly PickleValue[],
  ctx: CallContext,
  ordered: OrderedDicts,
  invalid: (what: string) => TruecastError,
): PickleValue | undefined {
  const arity = (min: number, max: number): void => {
    if (args.length < min || args.length > max) {
      const want = min === max ? `${min}` : `${min} to ${max}`;
      throw invalid(`${dotted} is called with ${args.length} arguments (Python takes ${want})`);
    }
  };
  /** The elements Python would iterate over in `arg`, or a refusal. */
  const iterate = (arg: PickleValue): readonly PickleValue[] => {
    if (Array.isArray(arg)) return arg;
    if (arg instanceof Set) return [...arg];
    if (arg instanceof Map) return [...arg.keys()];
    if (typeof arg === "string") return [...arg];
    if (arg instanceof Uint8Array) return [...arg];
    throw invalid(`${dotted} is given a ${arg === null ? "None" : typeof arg} where Python needs an iterable`);
  };
  switch (dotted) {
    case "collections.OrderedDict": {
      const d = new Map<PickleValue, PickleValue>();
      ordered.add(d);
      const items = ctx.how === "new" ? undefined : args[0]; // dict.__new__ ignores its arguments
      if (ctx.how === "call") arity(0, 1);
      ctx.budget.table(2 * (items instanceof Map ? items.size : Array.isArray(items) ? items.length : 0));
      if (items === undefined) return d;
      // The keys and values are now in two dicts (Python shares them too): never refunded.
      if (items instanceof Map) {
        for (const [k, v] of items) {
          ctx.budget.share(k);
          ctx.budget.share(v);
          d.set(k, v);
        }
        return d;
      }
      if (!Array.isArray(items)) throw invalid("OrderedDict is given something that is neither a dict nor a list of pairs");
      for (const kv of items) {
        if (!Array.isArray(kv) || kv.length !== 2) throw invalid("OrderedDict is given an item that is not a pair");
        if (unhashable(kv[0] as PickleValue)) throw invalid("OrderedDict is given a key that is a list, dict or set");
        ctx.budget.share(kv[0] as PickleValue);
        ctx.budget.share(kv[1] as PickleValue);
        d.set(kv[0] as PickleValue, kv[1] as PickleValue);
      }
      return d;
    }
    case "torch.Size": {
      arity(0, 1);
      const dims = args[0] ?? [];
      if (!Array.isArray(dims)) throw invalid("torch.Size is given something that is not a tuple of ints");
      ctx.budget.slots(dims.length);
      for (const d of dims as readonly PickleValue[]) {
        if (typeof d !== "number" || !Number.isSafeInteger(d)) throw invalid(`torch.Size is given ${String(d)}, not an integer`);
      }
      return Object.freeze([...(dims as readonly PickleValue[])]);
    }
    case "builtins.set":
    case "builtins.frozenset": {
      const frozen = dotted === "builtins.frozenset";
      if (!frozen && ctx.how === "new") {
        ctx.budget.table();
        return new Set(); // set.__new__ ignores its arguments
      }
      arity(0, 1);
      const arg = args[0];
      const n = arg === undefined ? 0 : arg instanceof Map || arg instanceof Set ? arg.size : typeof arg === "string" || Array.isArray(arg) || arg instanceof Uint8Array ? arg.length : 0;
      ctx.budget.table(2 * n); // the elements Python iterates, then the set's table
      const elements = arg === undefined ? [] : iterate(arg);
      for (const e of elements) {
        if (unhashable(e)) throw invalid(`${dotted.slice(9)}() is given an element that is a list, dict or set`);
        ctx.budget.share(e); // a tuple element, now in the set as well
      }
      const s = new Set(elements);
      return frozen ? Object.freeze(s) : s;
    }
    case "builtins.bytes":
      if (args.length !== 0) throw invalid("bytes() is given arguments (pickle writes only bytes() for b'')");
      return new Uint8Array(0);
    case "_codecs.encode": {
      if (ctx.how === "new") throw invalid("_codecs.encode is used as a class (Python refuses NEWOBJ of a function)");
      arity(2, 2);
      const [text, encoding] = args;
      if (typeof text !== "string" || (encoding !== "latin1" && encoding !== "latin-1")) {
        throw invalid("_codecs.encode is used for something other than protocol 2's latin-1 bytes");
      }
      ctx.budget.bytes(text.length);
      const out = new Uint8Array(text.length);
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c > 0xff) throw invalid("_codecs.encode is given text that is not latin-1");
        out[i] = c;
      }
      return out;
    }
    default:
      return undefined;
  }
}
