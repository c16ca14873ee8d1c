/**
 * The fuzzer's deterministic randomness and its format-blind byte mutations.
 * Every case draws from its own PRNG seeded by (run seed, case index), so one case is reproduced from those two numbers.
 */

/** A small seeded PRNG (mulberry32): the same seed gives the same draws on every machine. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("pick from nothing");
    return items[this.int(items.length)] as T;
  }
}

/** Uniform draws in [0, 1) from a mulberry32 stream seeded with `seed` (the same stream as `new Rng(seed)`). */
export function uniform(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.u32() / 0x100000000;
}

/** The PRNG for case `index` of a run seeded with `seed` (cases are independent of each other). */
export function caseRng(seed: number, index: number): Rng {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return new Rng((h ^ (h >>> 16)) >>> 0);
}

/** Bytes a parser treats specially: zero, all ones, the sign boundaries. */
export const INTERESTING_BYTES = [0x00, 0xff, 0x7f, 0x80, 0x01, 0x7b, 0x22, 0x2e, 0x28] as const;
/** 32-bit values at the edges of sizes, offsets and counts. */
export const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff] as const;
/** 64-bit values at the edges of sizes and offsets (ZIP64 fields, safetensors header lengths). */
export const INTERESTING_U64 = [0n, 1n, 0xffffffffn, 0x100000000n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n] as const;

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function writeU32(b: Uint8Array, at: number, v: number): void {
  if (at < 0 || at + 4 > b.length) return;
  new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(at, v >>> 0, true);
}

export function writeU64(b: Uint8Array, at: number, v: bigint): void {
  if (at < 0 || at + 8 > b.length) return;
  new DataView(b.buffer, b.byteOffset, b.byteLength).setBigUint64(at, BigInt.asUintN(64, v), true);
}

/** One format-blind mutation of a copy of `input`: a bit flip, an interesting byte or word, a cut, a copied or removed range. */
export function mutateBytes(rng: Rng, input: Uint8Array): { bytes: Uint8Array; what: string } {
  const b = input.slice();
  const n = b.length;
  if (n === 0) return { bytes: Uint8Array.of(rng.u32() & 0xff), what: "byte into empty input" };
  const at = rng.int(n);
  switch (rng.int(8)) {
    case 0: {
      const bit = rng.int(8);
      b[at] = (b[at] as number) ^ (1 << bit);
      return { bytes: b, what: `flip bit ${bit} at ${at}` };
    }
    case 1: {
      const v = rng.pick(INTERESTING_BYTES);
      b[at] = v;
      return { bytes: b, what: `byte ${at} = 0x${v.toString(16)}` };
    }
    case 2: {
      const v = rng.pick(INTERESTING_U32);
      writeU32(b, Math.min(at, n - 4), v);
      return { bytes: b, what: `u32 at ${Math.min(at, n - 4)} = 0x${v.toString(16)}` };
    }
    case 3:
      return { bytes: b.subarray(0, at), what: `truncate to ${at}` };
    case 4: {
      const len = 1 + rng.int(Math.min(256, n - at));
      const to = rng.int(n + 1);
      return { bytes: concat([b.subarray(0, to), b.slice(at, at + len), b.subarray(to)]), what: `copy ${len} bytes from ${at} to ${to}` };
    }
    case 5: {
      const len = 1 + rng.int(Math.min(64, n - at));
      return { bytes: concat([b.subarray(0, at), b.subarray(at + len)]), what: `delete ${len} bytes at ${at}` };
    }
    case 6: {
      const len = 1 + rng.int(16);
      const ins = new Uint8Array(len).map(() => rng.u32() & 0xff);
      return { bytes: concat([b.subarray(0, at), ins, b.subarray(at)]), what: `insert ${len} random bytes at ${at}` };
    }
    default: {
      const len = 1 + rng.int(Math.min(8, n - at));
      for (let i = 0; i < len; i++) b[at + i] = rng.u32() & 0xff;
      return { bytes: b, what: `randomize ${len} bytes at ${at}` };
    }
  }
}
