/**
 * The unpickler's memo. Pickles written by CPython (torch.save included) number memo entries 0, 1, 2, ... in order,
 * so the entries live in a plain array (8 bytes each in V8); an index out of that order goes to a Map (about 60 bytes
 * an entry, measured), which only a hand-made pickle needs. Each new entry is charged to the budget at its cost.
 */
import type { PickleBudget } from "./budget.js";
import type { PickleValue } from "./values.js";

export class Memo {
  readonly #dense: PickleValue[] = [];
  readonly #sparse = new Map<number, PickleValue>();

  constructor(private readonly budget: PickleBudget) {}

  /** Entries held. */
  get size(): number {
    return this.#dense.length + this.#sparse.size;
  }

  has(i: number): boolean {
    return i < this.#dense.length || this.#sparse.has(i);
  }

  /** The entry at `i`; undefined when none was written. */
  get(i: number): PickleValue | undefined {
    return i < this.#dense.length ? this.#dense[i] : this.#sparse.get(i);
  }

  /** Write entry `i` (a new entry is charged first, so a refused one is never stored). */
  set(i: number, v: PickleValue): void {
    if (i < this.#dense.length) {
      this.#dense[i] = v;
    } else if (this.#sparse.has(i)) {
      this.#sparse.set(i, v);
    } else if (i === this.#dense.length) {
      this.budget.memo(this.size, true);
      this.#dense.push(v);
      // An entry written out of order earlier may be next in line now: move it over, so the array stays the
      // home of every dense entry (the Map would otherwise shadow nothing, but hold it twice as expensively).
      for (let next = this.#dense.length; this.#sparse.has(next); next++) {
        this.#dense.push(this.#sparse.get(next) as PickleValue);
        this.#sparse.delete(next);
      }
    } else {
      this.budget.memo(this.size, false);
      this.#sparse.set(i, v);
    }
  }
}
