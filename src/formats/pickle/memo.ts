/**
 * The unpickler's memo. Only the values at indices the pickle reads back (memo-reads.ts) are kept, so that what the
 * pickler memoized only by habit (CPython memoizes everything) becomes garbage once used; a kept value may be reached
 * from two places, so the budget marks it shared and never refunds it. Every written index still counts, for
 * MEMOIZE (which writes at the memo's size) and for the limit on entries: indices written in order, as CPython
 * numbers them, are one counter; an index out of that order goes to a Set (charged as such), which only a hand-made
 * pickle needs.
 */
import type { PickleBudget } from "./budget.js";
import type { MemoReads } from "./memo-reads.js";
import type { PickleValue } from "./values.js";

export class Memo {
  /** Indices 0 .. dense - 1 are written. */
  #dense = 0;
  /** Written indices above `#dense`. */
  readonly #sparse = new Set<number>();
  /** The values of written indices that the pickle reads. */
  readonly #kept = new Map<number, PickleValue>();

  constructor(
    private readonly budget: PickleBudget,
    private readonly reads: MemoReads,
  ) {}

  /** Entries written (Python's `len(memo)`). */
  get size(): number {
    return this.#dense + this.#sparse.size;
  }

  /** Whether entry `i` was written and is kept: only indices the pickle reads are asked for. */
  has(i: number): boolean {
    return this.#kept.has(i);
  }

  /** The entry at `i`; undefined when none was written (or it is one the pickle never reads). */
  get(i: number): PickleValue | undefined {
    return this.#kept.get(i);
  }

  /** Write entry `i` (a new entry is charged first, so a refused one is never stored). */
  set(i: number, v: PickleValue): void {
    if (i >= this.#dense && !this.#sparse.has(i)) {
      const inOrder = i === this.#dense;
      this.budget.memo(this.size, inOrder);
      if (inOrder) {
        this.#dense++;
        // An entry written out of order earlier may be next in line now: fold it into the counter.
        while (this.#sparse.delete(this.#dense)) this.#dense++;
      } else {
        this.#sparse.add(i);
      }
    }
    if (this.reads.has(i)) {
      if (!this.#kept.has(i)) this.budget.memoRead();
      this.budget.share(v);
      this.#kept.set(i, v);
    }
  }
}
