/**
 * The values a restricted unpickle produces. Nothing here can run: a global is only a name, and what
 * a call of an allowed global builds is decided by the caller's hooks as a plain value.
 */

/** An allowed global (`module.name`), as an inert name. */
export interface PickleGlobal {
  readonly kind: "global";
  readonly module: string;
  readonly name: string;
}

/** A value a hook built (a tensor, a storage, a dtype); `kind` tells which. */
export interface PickleObject {
  readonly kind: string;
}

/** A Python tuple: a frozen array, so that nothing appends to it. */
export type PickleTuple = readonly PickleValue[];

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | PickleTuple
  | Map<PickleValue, PickleValue>
  | Set<PickleValue>
  | PickleGlobal
  | PickleObject;

export function isGlobal(v: PickleValue): v is PickleGlobal {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) &&
    !(v instanceof Map) && !(v instanceof Set) && (v as PickleObject).kind === "global";
}

export function isPickleObject(v: PickleValue, kind: string): v is PickleObject {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) &&
    !(v instanceof Map) && !(v instanceof Set) && (v as PickleObject).kind === kind;
}

/**
 * Python 2 module names that Python 3's unpickler maps to its own (`fix_imports`, Lib/_compat_pickle.py):
 * protocol 2 pickles written by Python 3 use them too (`subprocess.Popen` is written `commands Popen`).
 */
const PY2_MODULES: Readonly<Record<string, string>> = {
  __builtin__: "builtins",
  exceptions: "builtins",
  copy_reg: "copyreg",
  commands: "subprocess",
  cPickle: "pickle",
  UserDict: "collections",
};

/** The Python 3 name of a module a pickle names. */
export function normalizeModule(module: string): string {
  return PY2_MODULES[module] ?? module;
}
