/**
 * The state dict inside what `torch.load` returns: a bare dict of tensors, or one wrapped as
 * `{"model": ...}` / `{"state_dict": ...}` beside other training state; `module.` (DataParallel) and
 * `_orig_mod.` (torch.compile) prefixes removed when asked. Values that are not tensors are skipped and counted.
 */
import { TruecastError } from "../../errors.js";
import type { PickleValue } from "../pickle/values.js";
import { isTorchTensor, type TorchTensor } from "./rebuild.js";

/** Keys under which trainers wrap a state dict, in the order they are tried. */
export const WRAPPER_KEYS = ["model", "state_dict"] as const;

/** Prefixes wrappers add to every key: DataParallel/DDP's `module.`, torch.compile's `_orig_mod.`. */
export const WRAPPER_PREFIXES = ["module.", "_orig_mod."] as const;

export interface StateDictEntry {
  /** After prefix removal. */
  readonly name: string;
  /** As stored in the checkpoint. */
  readonly storedName: string;
  readonly tensor: TorchTensor;
}

export interface StateDict {
  readonly entries: readonly StateDictEntry[];
  /** The key the state dict was found under, or null when the checkpoint is the state dict itself. */
  readonly wrapper: string | null;
  /** Entries beside the wrapper key (epoch, optimizer state, ...), by key. */
  readonly besideWrapper: readonly string[];
  /** Prefix → number of keys it was removed from. */
  readonly prefixesRemoved: ReadonlyMap<string, number>;
  /** Keys of the state dict whose values are not tensors (ints, strings, nested dicts). */
  readonly skipped: readonly string[];
}

/** Python accepts a lone surrogate in a pickled string (surrogatepass); a safetensors name cannot hold one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function tensorCount(d: Map<PickleValue, PickleValue>): number {
  let n = 0;
  for (const v of d.values()) if (isTorchTensor(v)) n++;
  return n;
}

function keyText(k: PickleValue): string {
  return typeof k === "string" || typeof k === "number" || typeof k === "bigint" ? String(k) : `<${typeof k} key>`;
}

/** Find and list the state dict of a checkpoint's top-level value. */
export function extractStateDict(params: { value: PickleValue; fileName: string; stripPrefixes: boolean }): StateDict {
  const { value, fileName } = params;
  if (!(value instanceof Map)) {
    throw new TruecastError(
      "TORCH_INVALID",
      `${fileName} holds a ${Array.isArray(value) ? "list" : typeof value}, not a dict of tensors; save the model's state_dict() instead`,
    );
  }
  let dict = value;
  let wrapper: string | null = null;
  if (tensorCount(value) === 0) {
    for (const key of WRAPPER_KEYS) {
      const inner = value.get(key);
      if (inner instanceof Map && tensorCount(inner) > 0) {
        dict = inner;
        wrapper = key;
        break;
      }
    }
  }
  const besideWrapper = wrapper === null ? [] : [...value.keys()].filter((k) => k !== wrapper).map(keyText);
  const entries: StateDictEntry[] = [];
  const skipped: string[] = [];
  const prefixesRemoved = new Map<string, number>();
  const seen = new Map<string, string>();
  for (const [k, v] of dict) {
    if (typeof k !== "string" || !isTorchTensor(v)) {
      skipped.push(keyText(k));
      continue;
    }
    if (LONE_SURROGATE.test(k)) {
      throw new TruecastError(
        "TORCH_INVALID",
        `${fileName}: tensor name ${JSON.stringify(k)} holds a lone UTF-16 surrogate, which is not text: safetensors cannot store it; rename the tensor in torch`,
      );
    }
    let name = k;
    if (params.stripPrefixes) {
      for (let again = true; again; ) {
        again = false;
        for (const p of WRAPPER_PREFIXES) {
          if (name.startsWith(p) && name.length > p.length) {
            name = name.slice(p.length);
            prefixesRemoved.set(p, (prefixesRemoved.get(p) ?? 0) + 1);
            again = true;
          }
        }
      }
    }
    const clash = seen.get(name);
    if (clash !== undefined) {
      throw new TruecastError(
        "DUPLICATE_TENSOR",
        `${fileName}: keys "${clash}" and "${k}" both become "${name}" once wrapper prefixes are removed; the checkpoint holds two models`,
      );
    }
    seen.set(name, k);
    entries.push({ name, storedName: k, tensor: v as unknown as TorchTensor });
  }
  if (entries.length === 0) {
    throw new TruecastError(
      "TORCH_INVALID",
      `${fileName} holds no tensors${wrapper === null ? ` (nor under "model" or "state_dict")` : ""}; it is not a model's state dict`,
    );
  }
  return { entries, wrapper, besideWrapper, prefixesRemoved, skipped };
}
