/**
 * Which tensor of `a` goes with which tensor of `b`: equal names first, then names equal once the wrapper prefixes
 * truecast knows are removed (`backbone.` of H2O LLM Studio, `base_model.model.` of PEFT, `module.` of
 * DataParallel/DDP, `_orig_mod.` of torch.compile), but only where that makes a name of one side meet exactly one
 * name of the other. Knows nothing of tensor contents.
 */
import type { TensorRef } from "../sources/tensor-ref.js";

/** Prefixes that wrappers put in front of every key, in the order they nest (`backbone.base_model.model.`). */
export const KNOWN_PREFIXES = ["backbone.", "base_model.model.", "module.", "_orig_mod."] as const;

export interface AlignedPair {
  readonly a: TensorRef;
  readonly b: TensorRef;
}

export interface Alignment {
  /** Pairs in a's order. */
  readonly pairs: readonly AlignedPair[];
  /** Names of a with no partner in b, in a's order. */
  readonly onlyInA: readonly string[];
  readonly onlyInB: readonly string[];
  /** Prefix → how many of a's (b's) names it was removed from to find their partner. */
  readonly strippedA: ReadonlyMap<string, number>;
  readonly strippedB: ReadonlyMap<string, number>;
}

/** `name` with every known prefix removed from its front, and the prefixes removed (in order). */
export function stripKnownPrefixes(name: string): { readonly key: string; readonly removed: readonly string[] } {
  let key = name;
  const removed: string[] = [];
  for (let again = true; again; ) {
    again = false;
    for (const p of KNOWN_PREFIXES) {
      if (key.startsWith(p) && key.length > p.length) {
        key = key.slice(p.length);
        removed.push(p);
        again = true;
      }
    }
  }
  return { key, removed };
}

/** Stripped key → the tensors that reduce to it (more than one means the key is ambiguous and is not used). */
function byStrippedKey(refs: readonly TensorRef[]): Map<string, { ref: TensorRef; removed: readonly string[] }[]> {
  const out = new Map<string, { ref: TensorRef; removed: readonly string[] }[]>();
  for (const ref of refs) {
    const s = stripKnownPrefixes(ref.name);
    const list = out.get(s.key) ?? [];
    list.push({ ref, removed: s.removed });
    out.set(s.key, list);
  }
  return out;
}

function count(into: Map<string, number>, prefixes: readonly string[]): void {
  for (const p of prefixes) into.set(p, (into.get(p) ?? 0) + 1);
}

/** Pairs the tensors of `a` and `b` by name (see the file comment). */
export function alignTensors(a: readonly TensorRef[], b: readonly TensorRef[]): Alignment {
  const bByName = new Map(b.map((t) => [t.name, t]));
  const partner = new Map<TensorRef, TensorRef>();
  const taken = new Set<TensorRef>();
  for (const t of a) {
    const other = bByName.get(t.name);
    if (other !== undefined) {
      partner.set(t, other);
      taken.add(other);
    }
  }
  const strippedA = new Map<string, number>();
  const strippedB = new Map<string, number>();
  const restA = a.filter((t) => !partner.has(t));
  const restB = b.filter((t) => !taken.has(t));
  if (restA.length > 0 && restB.length > 0) {
    const keysA = byStrippedKey(restA);
    const keysB = byStrippedKey(restB);
    for (const [key, fromA] of keysA) {
      const fromB = keysB.get(key);
      if (fromA.length !== 1 || fromB?.length !== 1) continue;
      const [x] = fromA as [{ ref: TensorRef; removed: readonly string[] }];
      const [y] = fromB as [{ ref: TensorRef; removed: readonly string[] }];
      partner.set(x.ref, y.ref);
      taken.add(y.ref);
      count(strippedA, x.removed);
      count(strippedB, y.removed);
    }
  }
  const pairs: AlignedPair[] = [];
  const onlyInA: string[] = [];
  for (const t of a) {
    const other = partner.get(t);
    if (other === undefined) onlyInA.push(t.name);
    else pairs.push({ a: t, b: other });
  }
  return { pairs, onlyInA, onlyInB: b.filter((t) => !taken.has(t)).map((t) => t.name), strippedA, strippedB };
}
