/**
 * The allowlist of globals a `torch.save` state dict needs, and what a call of each builds: inert
 * descriptors of storages and tensors, plain dicts, tuples and bytes. Nothing is ever evaluated.
 */
import { TruecastError } from "../../errors.js";
import { SLOT_COST, type PickleBudget } from "../pickle/budget.js";
import type { CallContext, UnpickleHooks } from "../pickle/unpickler.js";
import { isGlobal, isPickleObject, type PickleGlobal, type PickleValue } from "../pickle/values.js";
import { DTYPE_OBJECTS, STORAGE_CLASSES, type TorchElementType } from "./dtypes.js";
import { checkView } from "./layout.js";
import { callPythonBuiltin, type OrderedDicts } from "./python-builtins.js";

/** One storage record of the archive (`<prefix>/data/<key>`), located in the file. */
export interface TorchStorage {
  readonly kind: "torch.storage";
  readonly key: string;
  /** Element type of the storage class (`UntypedStorage`: bytes). */
  readonly element: TorchElementType;
  /** `cpu`, `cuda:0`, ...: where torch would put it; irrelevant to the bytes. */
  readonly location: string;
  /** Absolute offset of the record's bytes in the checkpoint file. */
  readonly byteOffset: number;
  readonly byteLength: number;
}

/** A tensor as a view of a storage: nothing is read until asked. */
export interface TorchTensor {
  readonly kind: "torch.tensor";
  /** Safetensors spelling of the element type (`C128` for complex128). */
  readonly dtype: string;
  readonly itemSize: number;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
  /** In elements of `dtype`. */
  readonly storageOffset: number;
  readonly storage: TorchStorage;
}

export function isTorchTensor(v: PickleValue): v is PickleValue & TorchTensor {
  return isPickleObject(v, "torch.tensor");
}

/**
 * Slots charged for a descriptor beyond the object the unpickler charged for a call's result (48 bytes): a tensor
 * descriptor of 7 fields takes ~80 bytes in V8; a storage ~72, and its entry in `storages` ~30.
 */
const TENSOR_SLOTS = 3;
const STORAGE_SLOTS = 5;

/** Sizes and strides of at most this many dims are interned (torch tensors rarely have more than 6). */
const MAX_INTERNED_DIMS = 16;

const REBUILD_FUNCTIONS = new Set([
  "_rebuild_tensor",
  "_rebuild_tensor_v2",
  "_rebuild_tensor_v3",
  "_rebuild_parameter",
  "_rebuild_parameter_with_state",
  "_rebuild_from_type_v2",
]);

/** Tensor classes `_rebuild_from_type_v2` may name as the type to rebuild as. */
const TENSOR_CLASSES = new Set(["torch._tensor.Tensor", "torch.Tensor", "torch.nn.parameter.Parameter"]);

/** Every global a checkpoint may name; anything else is refused by name. */
export function isAllowedGlobal(module: string, name: string): boolean {
  if (module === "torch._utils") return REBUILD_FUNCTIONS.has(name);
  if (module === "torch") return STORAGE_CLASSES.has(name) || DTYPE_OBJECTS.has(name) || name === "Size" || name === "Tensor";
  if (module === "torch.storage") return name === "UntypedStorage" || name === "TypedStorage";
  if (module === "collections") return name === "OrderedDict";
  if (module === "builtins") return name === "set" || name === "frozenset" || name === "bytes";
  if (module === "_codecs") return name === "encode";
  return TENSOR_CLASSES.has(`${module}.${name}`);
}

/**
 * What to tell a user whose checkpoint names a torch or numpy global outside the allowlist: such files are
 * usually a whole pickled model or training state, not a state dict. Nothing for anything else (os.system ...).
 */
export function torchRefusalAdvice(module: string, _name: string): string | undefined {
  if (module === "torch" || module.startsWith("torch.") || module === "numpy" || module.startsWith("numpy.")) {
    return "truecast reads state dicts of plain tensors only: save model.state_dict() with torch.save instead";
  }
  return undefined;
}

export interface TorchHooksParams {
  readonly fileName: string;
  /**
   * Where the record of storage `key` (of `byteLength` bytes by its persistent id) lies, or null when the
   * checkpoint has no such record.
   */
  readonly locate: (key: string, byteLength: number) => { byteOffset: number; byteLength: number } | null;
  /** Accept the legacy format's persistent ids: `('storage', class, key, location, numel, None)`. */
  readonly legacy?: boolean;
}

/** The hooks that turn a torch pickle into descriptors, and the storages they met, by key. */
export function torchHooks(params: TorchHooksParams): UnpickleHooks & { readonly storages: ReadonlyMap<string, TorchStorage> } {
  const { fileName } = params;
  const storages = new Map<string, TorchStorage>();
  const invalid = (what: string): TruecastError =>
    new TruecastError("TORCH_INVALID", `${fileName}: ${what}; the checkpoint is damaged or was not written by torch.save`);

  const int = (v: PickleValue | undefined, what: string): number => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw invalid(`${what} is ${String(v)}, not a non-negative integer`);
    return v;
  };
  /**
   * Sizes and strides, each distinct one kept once: a model repeats a few shapes over thousands of tensors, so a
   * tensor holds a reference rather than arrays of its own. A new one is charged as a tuple plus its table entry.
   * Only short ones are looked up (the key is a string of the dims): a longer one is copied and charged each time.
   */
  const interned = new Map<string, readonly number[]>();
  const ints = (v: PickleValue | undefined, what: string, budget: PickleBudget): readonly number[] => {
    if (!Array.isArray(v)) throw invalid(`${what} is not a tuple`);
    const xs = v as readonly PickleValue[];
    for (const x of xs) int(x, `an entry of ${what}`);
    if (xs.length > MAX_INTERNED_DIMS) {
      budget.object(xs.length);
      return Object.freeze(xs.slice() as number[]);
    }
    const key = xs.join(",");
    const known = interned.get(key);
    if (known !== undefined) return known;
    budget.object(xs.length);
    budget.bytes(key.length + 2 * SLOT_COST);
    const copy = Object.freeze(xs.slice() as number[]);
    interned.set(key, copy);
    return copy;
  };
  const storageArg = (v: PickleValue | undefined): TorchStorage => {
    if (v === undefined || !isPickleObject(v, "torch.storage")) throw invalid("a tensor is rebuilt from something that is not a storage");
    return v as unknown as TorchStorage;
  };
  const tensorArg = (v: PickleValue | undefined, fn: string): PickleValue => {
    if (v === undefined || !isTorchTensor(v)) throw invalid(`${fn} is given something that is not a tensor`);
    return v;
  };

  /** Element types that may require gradients (torch refuses requires_grad=True on integer and bool tensors). */
  const differentiable = (dtype: string): boolean => dtype.startsWith("F") || dtype.startsWith("BF") || dtype.startsWith("C");
  const flag = (v: PickleValue | undefined, fn: string): boolean => {
    if (typeof v !== "boolean") throw invalid(`${fn} is given requires_grad ${String(v)}, not True or False`);
    return v;
  };
  const arity = (fn: string, args: readonly PickleValue[], min: number, max: number): void => {
    if (args.length < min || args.length > max) {
      throw invalid(`${fn} is called with ${args.length} arguments (torch's takes ${min === max ? min : `${min} or ${max}`})`);
    }
  };
  /** `metadata` of _rebuild_tensor_v2/v3 (torch ≥ 2.0): conj/neg bits would change the values; only none set is read. */
  const noMetadata = (v: PickleValue | undefined, fn: string): void => {
    if (v === undefined || v === null) return;
    if (!(v instanceof Map)) throw invalid(`${fn} is given tensor metadata that is not a dict`);
    for (const [k, on] of v) {
      if (on !== false) throw invalid(`${fn} is given tensor metadata ${String(k)}=${String(on)} (a conjugate or negative bit), which truecast does not apply`);
    }
  };
  /** The `state` of _rebuild_parameter_with_state / _rebuild_from_type_v2: None, a dict, or a (dict, slots) pair. */
  const objState = (v: PickleValue | undefined, fn: string): void => {
    const dictOrNone = (x: PickleValue | undefined): boolean => x === null || x instanceof Map;
    if (dictOrNone(v)) return;
    if (Array.isArray(v) && Object.isFrozen(v) && v.length === 2 && dictOrNone(v[0]) && dictOrNone(v[1])) return;
    throw invalid(`${fn} is given a state that is not a dict or a (dict, slots) pair`);
  };

  const rebuildTensor = (fn: string, args: readonly PickleValue[], element: TorchElementType | null, requiresGrad: PickleValue | undefined, ctx: CallContext): PickleValue => {
    const { budget } = ctx;
    const storage = storageArg(args[0]);
    const el = element ?? storage.element;
    budget.slots(TENSOR_SLOTS);
    const t: TorchTensor = {
      kind: "torch.tensor",
      dtype: el.dtype,
      itemSize: el.itemSize,
      storageOffset: int(args[1], "a storage offset"),
      shape: ints(args[2], "a tensor's size", budget),
      stride: ints(args[3], "a tensor's stride", budget),
      storage,
    };
    if (requiresGrad !== undefined && flag(requiresGrad, fn) && !differentiable(t.dtype)) {
      throw invalid(`${fn} asks a ${t.dtype} tensor to require gradients, which torch refuses for integer and bool tensors`);
    }
    checkView({ tensor: t, fileName });
    // Nothing of the size, stride, backward hooks or metadata is kept: the tensor holds interned copies.
    for (let i = 2; i < args.length; i++) ctx.release(args[i] as PickleValue);
    return t as unknown as PickleValue;
  };

  const ordered: OrderedDicts = new WeakSet();

  const call = (fn: PickleGlobal, args: readonly PickleValue[], ctx: CallContext): PickleValue => {
    const dotted = `${fn.module}.${fn.name}`;
    if (fn.module === "torch._utils" && ctx.how === "new") throw invalid(`${fn.name} is used as a class (Python refuses NEWOBJ of a function)`);
    switch (dotted) {
      case "torch._utils._rebuild_tensor":
        arity(fn.name, args, 4, 4);
        return rebuildTensor(fn.name, args, null, undefined, ctx);
      case "torch._utils._rebuild_tensor_v2":
        arity(fn.name, args, 6, 7);
        noMetadata(args[6], fn.name);
        return rebuildTensor(fn.name, args, null, args[4], ctx);
      case "torch._utils._rebuild_tensor_v3": {
        arity(fn.name, args, 7, 8);
        const d = args[6];
        const element = d !== undefined && isGlobal(d) && d.module === "torch" ? DTYPE_OBJECTS.get(d.name) : undefined;
        if (element === undefined) throw invalid("_rebuild_tensor_v3 is given something that is not a torch dtype");
        noMetadata(args[7], fn.name);
        return rebuildTensor(fn.name, args, element, args[4], ctx);
      }
      case "torch._utils._rebuild_parameter":
      case "torch._utils._rebuild_parameter_with_state": {
        arity(fn.name, args, fn.name === "_rebuild_parameter" ? 3 : 4, fn.name === "_rebuild_parameter" ? 3 : 4);
        const t = tensorArg(args[0], fn.name) as unknown as TorchTensor;
        if (flag(args[1], fn.name) && !differentiable(t.dtype)) {
          throw invalid(`${fn.name} asks a ${t.dtype} tensor to require gradients, which torch refuses for integer and bool tensors`);
        }
        if (args.length === 4) objState(args[3], fn.name);
        for (let i = 1; i < args.length; i++) ctx.release(args[i] as PickleValue);
        return t as unknown as PickleValue;
      }
      case "torch._utils._rebuild_from_type_v2": {
        arity(fn.name, args, 4, 4);
        const [inner, type, innerArgs, state] = args;
        if (inner === undefined || !isGlobal(inner) || inner.module !== "torch._utils" || !REBUILD_FUNCTIONS.has(inner.name)) {
          throw invalid("_rebuild_from_type_v2 is given something that is not a torch rebuild function");
        }
        if (type === undefined || !isGlobal(type) || !TENSOR_CLASSES.has(`${type.module}.${type.name}`)) {
          throw invalid("_rebuild_from_type_v2 is given something that is not a tensor class");
        }
        if (!Array.isArray(innerArgs) || !Object.isFrozen(innerArgs)) throw invalid("_rebuild_from_type_v2 is given arguments that are not a tuple");
        objState(state, fn.name);
        const owned = !ctx.budget.isShared(innerArgs);
        const release = (v: PickleValue, deep = true): void => {
          if (owned) ctx.release(v, deep);
        };
        const t = call(inner, innerArgs, { how: "call", budget: ctx.budget, release });
        if (!isTorchTensor(t)) throw invalid("_rebuild_from_type_v2 rebuilds something that is not a tensor");
        release(innerArgs, false); // the inner call refunded what it used up
        ctx.release(state as PickleValue);
        return t;
      }
      default: {
        const v = callPythonBuiltin(dotted, args, ctx, ordered, invalid);
        if (v === undefined) throw invalid(`${dotted} is called, but it is not something a state dict calls`);
        return v;
      }
    }
  };

  const persistentLoad = (pid: PickleValue, budget: PickleBudget): PickleValue => {
    const legacyId = params.legacy === true && Array.isArray(pid) && pid.length === 6;
    if (!Array.isArray(pid) || pid[0] !== "storage" || (pid.length !== 5 && !legacyId)) {
      throw invalid("a persistent id is not ('storage', class, key, location, numel)");
    }
    const [, cls, key, location, numel, viewMetadata] = pid;
    if (legacyId && viewMetadata !== null) {
      throw new TruecastError(
        "TORCH_LEGACY",
        `${fileName} uses storage views of the legacy PyTorch format, which truecast does not read; load it with torch and ` +
          "re-save it with torch.save(obj, path) on torch ≥ 1.6",
      );
    }
    const element = cls !== undefined && isGlobal(cls) && (cls.module === "torch" || cls.module === "torch.storage") ? STORAGE_CLASSES.get(cls.name) : undefined;
    if (element === undefined) throw invalid("a persistent id names something that is not a storage class");
    if (typeof key !== "string" || typeof location !== "string") throw invalid("a persistent id's key or location is not a string");
    const n = int(numel, `the element count of storage "${key}"`);
    const known = storages.get(key);
    if (known !== undefined) {
      if (known.element.dtype !== element.dtype) throw invalid(`storage "${key}" is named with two element types`);
      return known as unknown as PickleValue;
    }
    const want = BigInt(n) * BigInt(element.itemSize);
    if (want > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`storage "${key}" claims ${n} elements, too many to address`);
    const at = params.locate(key, Number(want));
    if (at === null) throw invalid(`storage "${key}" has no record data/${key} in the archive`);
    if (BigInt(at.byteLength) !== want) {
      throw invalid(`storage "${key}" holds ${n} elements of ${element.itemSize} bytes (${want} bytes) but its record has ${at.byteLength} bytes`);
    }
    budget.slots(STORAGE_SLOTS);
    const s: TorchStorage = { kind: "torch.storage", key, element, location, byteOffset: at.byteOffset, byteLength: at.byteLength };
    storages.set(key, s);
    return s as unknown as PickleValue;
  };

  const build = (obj: PickleValue, state: PickleValue): PickleValue => {
    // A state dict is an OrderedDict whose `_metadata` attribute arrives as BUILD state: it carries no weights.
    if (!(obj instanceof Map)) throw invalid("BUILD sets the state of something other than a dict");
    objState(state, "BUILD");
    // A plain dict has no attributes: Python refuses any state that would set some.
    const sets = (x: PickleValue | undefined): boolean => x instanceof Map && x.size > 0;
    const attrs = Array.isArray(state) ? sets(state[0]) || sets(state[1]) : sets(state);
    if (attrs && !ordered.has(obj)) throw invalid("BUILD sets attributes of a plain dict, which has none");
    return obj;
  };

  return { isAllowed: isAllowedGlobal, refusalAdvice: torchRefusalAdvice, call, persistentLoad, build, storages };
}
