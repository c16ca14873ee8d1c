/**
 * The restricted unpickler in a collecting mode, for auditing a pickle rather than loading it: every global the
 * pickle names is recorded (with whether the caller's allowlist honours it) instead of refused, a call of a global
 * outside the allowlist builds an inert placeholder, and the allowlisted calls still go to the caller's hooks, so
 * the tensors of a checkpoint that also pickles, say, `argparse.Namespace` are still described. Nothing is executed;
 * the budget still bounds what the pickle may build.
 */
import { TruecastError } from "../../errors.js";
import { unpickle, type UnpickleHooks } from "./unpickler.js";
import type { PickleObject, PickleValue } from "./values.js";

/** One global a pickle names. */
export interface NamedGlobal {
  /** `module.name`, Python 3 module names. */
  readonly name: string;
  /** Whether the allowlist the pickle was read with honours it. */
  readonly allowed: boolean;
  /** How many times the pickle names it (GLOBAL, STACK_GLOBAL, INST). */
  readonly count: number;
}

export interface CollectedPickle {
  /** Every global named before the end (or the problem), in first-named order. */
  readonly globals: readonly NamedGlobal[];
  /** What the pickle builds, with placeholders for what only a refused global could build; null after a problem. */
  readonly value: PickleValue | null;
  /** Why the read stopped before the end (damaged pickle, budget, a call of a placeholder); null when it did not. */
  readonly problem: TruecastError | null;
}

/** What a global outside the allowlist would have built. */
export interface Placeholder extends PickleObject {
  readonly kind: "placeholder";
  /** The refused global whose call or class this stands for. */
  readonly of: string;
}

function placeholder(of: string): PickleValue {
  const p: Placeholder = { kind: "placeholder", of };
  return p as PickleValue;
}

/**
 * Reads `bytes` with `hooks` in collecting mode. A hook that refuses what it is given (a placeholder where it
 * wants a storage, say) yields a placeholder too; only a budget refusal stops the read, since it bounds memory.
 */
export function collectPickle(params: { bytes: Uint8Array; fileName: string; hooks: UnpickleHooks }): CollectedPickle {
  const { hooks } = params;
  const named = new Map<string, { allowed: boolean; count: number }>();
  const guarded = <T>(fallback: () => T, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof TruecastError && e.code === "PICKLE_BUDGET") throw e;
      return fallback();
    }
  };
  const collecting: UnpickleHooks = {
    isAllowed(module, name) {
      const dotted = `${module}.${name}`;
      const seen = named.get(dotted);
      if (seen) seen.count++;
      else named.set(dotted, { allowed: hooks.isAllowed(module, name), count: 1 });
      return true;
    },
    call(fn, args, ctx) {
      const dotted = `${fn.module}.${fn.name}`;
      if (named.get(dotted)?.allowed !== true) return placeholder(dotted);
      return guarded(() => placeholder(dotted), () => hooks.call(fn, args, ctx));
    },
    build(obj, state) {
      if (hooks.build === undefined) return obj;
      return guarded(() => obj, () => (hooks.build as NonNullable<UnpickleHooks["build"]>)(obj, state));
    },
    persistentLoad(pid, budget) {
      if (hooks.persistentLoad === undefined) return placeholder("persistent id");
      return guarded(() => placeholder("persistent id"), () => (hooks.persistentLoad as NonNullable<UnpickleHooks["persistentLoad"]>)(pid, budget));
    },
  };
  let value: PickleValue | null = null;
  let problem: TruecastError | null = null;
  try {
    value = unpickle({ bytes: params.bytes, fileName: params.fileName, hooks: collecting });
  } catch (e) {
    if (!(e instanceof TruecastError)) throw e;
    problem = e;
  }
  const globals = [...named].map(([name, g]) => ({ name, allowed: g.allowed, count: g.count }));
  return { globals, value, problem };
}
