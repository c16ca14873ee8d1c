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

/** Stripped key → the tensors (by index in `refs`) that reduce to it (more than one: ambiguous, not used). */
function byStrippedKey(refs: readonly TensorRef[], rest: readonly number[]): Map<string, { i: number; removed: readonly string[] }[]> {
  const out = new Map<string, { i: number; removed: readonly string[] }[]>();
  for (const i of rest) {
    const s = stripKnownPrefixes((refs[i] as TensorRef).name);
    const list = out.get(s.key) ?? [];
    list.push({ i, removed: s.removed });
    out.set(s.key, list);
  }
  return out;
}

function count(into: Map<string, number>, prefixes: readonly string[]): void {
  for (const p of prefixes) into.set(p, (into.get(p) ?? 0) + 1);
}

/**
 * Pairs the tensors of `a` and `b` by name (see the file comment). Tensors are told apart by their index, never by
 * identity: a source may make a fresh view each time its array is read.
 */
export function alignTensors(a: readonly TensorRef[], b: readonly TensorRef[]): Alignment {
  const bByName = new Map<string, number>();
  b.forEach((t, j) => bByName.set(t.name, j));
  /** Index in b of each tensor of a's partner, -1 for none. */
  const partner = new Int32Array(a.length).fill(-1);
  const taken = new Uint8Array(b.length);
  a.forEach((t, i) => {
    const j = bByName.get(t.name);
    if (j !== undefined) {
      partner[i] = j;
      taken[j] = 1;
    }
  });
  const strippedA = new Map<string, number>();
  const strippedB = new Map<string, number>();
  const restA = indexes(a.length).filter((i) => partner[i] === -1);
  const restB = indexes(b.length).filter((j) => taken[j] === 0);
  if (restA.length > 0 && restB.length > 0) {
    const keysA = byStrippedKey(a, restA);
    const keysB = byStrippedKey(b, restB);
    for (const [key, fromA] of keysA) {
      const fromB = keysB.get(key);
      if (fromA.length !== 1 || fromB?.length !== 1) continue;
      const [x] = fromA as [{ i: number; removed: readonly string[] }];
      const [y] = fromB as [{ i: number; removed: readonly string[] }];
      partner[x.i] = y.i;
      taken[y.i] = 1;
      count(strippedA, x.removed);
      count(strippedB, y.removed);
    }
  }
  const pairs: AlignedPair[] = [];
  const onlyInA: string[] = [];
  a.forEach((t, i) => {
    const j = partner[i] as number;
    if (j < 0) onlyInA.push(t.name);
    else pairs.push({ a: t, b: b[j] as TensorRef });
  });
  const onlyInB = indexes(b.length)
    .filter((j) => taken[j] === 0)
    .map((j) => (b[j] as TensorRef).name);
  return { pairs, onlyInA, onlyInB, strippedA, strippedB };
}

function indexes(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
