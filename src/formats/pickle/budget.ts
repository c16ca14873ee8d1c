/**
 * What one unpickle may build, in proportion to the pickle's size. A pickle is a program: memo GET makes a value
 * reusable for free and an allowed call copies its arguments, so a few hundred KB can ask for gigabytes. The
 * budget counts an estimate of the heap the values alive take (objects, their slots, and the bytes of strings and
 * bytes, including what calls copy or create; containers the pickle has used up are refunded), the memo, the stack
 * and the MARK nesting, and refuses the pickle with one PICKLE_BUDGET error the moment one runs out, before the
 * memory is spent. The estimates follow V8's sizes loosely, rounded up.
 */
import { TruecastError } from "../../errors.js";
import type { PickleValue } from "./values.js";

/** Estimated heap bytes of one new array, tuple, global or descriptor object, before its slots. */
export const OBJECT_COST = 48;
/** Estimated heap bytes of one new (empty) dict or set: V8 allocates its hash table up front (measured: 32 + 267). */
export const TABLE_COST = 300;
/** Estimated heap bytes of one slot of a container (an element; a dict entry counts two). */
export const SLOT_COST = 12;
/** Estimated heap bytes of a string or bytes value beyond its characters. */
export const STRING_COST = 24;

/**
 * Estimated heap bytes of one memo entry (its value is charged when built): an array slot, with the array's growth,
 * for entries written in order as CPython numbers them; a Map entry (measured: ~60) for any other index.
 */
export const MEMO_ENTRY_COST = 16;
export const SPARSE_MEMO_ENTRY_COST = 64;
/** Estimated heap bytes of one memo index the pickle reads back: its place in the set of read indices, and the kept value's Map entry. */
export const READ_MEMO_ENTRY_COST = 64;
/** Estimated heap bytes of marking one container shared (a WeakSet entry). */
export const SHARE_COST = 32;

/*
 * The limits below were measured on the whole CLI (`truecast inspect`, peak RSS; node alone is ~64 MB) and on pickles
 * written by real torch 1.13 (test/formats/torch/real-checkpoints.test.ts and test/formats/pickle/budget-rss.test.ts
 * check both at test time). The estimate is of what is alive: values the pickle has used up are refunded (see
 * {@link PickleBudget.release}), and only memo entries it reads back are kept. Real state dicts need 3.4 to 5.3
 * estimated heap bytes per byte of data.pkl at their peak (20k short-named Parameters: 5.3; 100k tensors with module
 * metadata: 4.7; a Llama-70B-shaped state dict: 3.4), at most 0.1 memo entries per byte and 2,009 values on the stack.
 */

/** Heap estimate allowed per byte of pickle: 1.5 times the most a torch-written state dict was measured to need. */
export const HEAP_PER_PICKLE_BYTE = 8;
/** Heap estimate every pickle may use, however small (a 6 MB pickle's). */
export const HEAP_FLOOR = 48 * 1024 * 1024;
/**
 * What the pickle's own bytes and the heap estimate may add up to, whatever the pickle's size: with node itself
 * (~64 MB) and the garbage collector's slack (the heap runs ~1.2 times the estimate), this keeps the CLI under
 * ~200 MB of peak RSS for any pickle (measured: see test/formats/pickle/budget-rss.test.ts). A real state dict
 * fits up to ~15 MB of data.pkl: about 100,000 tensors.
 */
export const HEAP_CEILING = 96 * 1024 * 1024;
/** Memo entries allowed per byte of pickle (2.5 times torch's 0.1), and the floor (a 2.5 MB pickle's). */
export const MEMO_PER_PICKLE_BYTE = 0.25;
export const MEMO_FLOOR = 625_000;
/** Values on the stack at once: torch batches 1,000 items per MARK, and nesting is shallow (measured: 2,009). */
export const MAX_STACK = 50_000;
/** Open MARKs at once: a state dict nests a few levels deep. */
export const MAX_MARKS = 10_000;

export interface BudgetLimits {
  readonly heapBytes: number;
  readonly memoEntries: number;
  readonly stackValues: number;
  readonly marks: number;
}

/** The limits for a pickle of `pickleBytes` bytes. */
export function budgetLimits(pickleBytes: number): BudgetLimits {
  return {
    heapBytes: Math.min(Math.max(HEAP_FLOOR, Math.ceil(pickleBytes * HEAP_PER_PICKLE_BYTE)), HEAP_CEILING - pickleBytes),
    memoEntries: Math.max(MEMO_FLOOR, Math.ceil(pickleBytes * MEMO_PER_PICKLE_BYTE)),
    stackValues: MAX_STACK,
    marks: MAX_MARKS,
  };
}

/** A tuple, list, dict or set: what {@link PickleBudget.release} refunds. */
function isContainer(v: PickleValue): v is PickleValue[] | Map<PickleValue, PickleValue> | Set<PickleValue> {
  return Array.isArray(v) || v instanceof Map || v instanceof Set;
}

function mb(n: number): string {
  return `${Math.round(n / (1024 * 1024))} MB`;
}

/** The running account of one unpickle. Hooks charge what they copy or create through {@link PickleBudget.slots} / {@link PickleBudget.bytes}. */
export class PickleBudget {
  private heap = 0;
  private most = 0;
  readonly #shared = new WeakSet<object>();
  readonly limits: BudgetLimits;
  constructor(
    private readonly fileName: string,
    private readonly pickleBytes: number,
    limits?: BudgetLimits,
  ) {
    this.limits = limits ?? budgetLimits(pickleBytes);
  }

  /** Heap estimated alive now. */
  get used(): number {
    return this.heap;
  }

  /** The most heap estimated alive at once so far. */
  get peak(): number {
    return this.most;
  }

  private refuse(what: string): TruecastError {
    return new TruecastError(
      "PICKLE_BUDGET",
      `${this.fileName}: the pickle ${what} (the limit for a pickle of ${this.pickleBytes} bytes); a state dict never needs that much, ` +
        "so the file is damaged or built to exhaust memory",
    );
  }

  private charge(n: number): void {
    this.heap += n;
    if (this.heap > this.most) this.most = this.heap;
    if (this.heap > this.limits.heapBytes) {
      if (this.limits.heapBytes + this.pickleBytes < HEAP_CEILING) throw this.refuse(`builds more than ${mb(this.limits.heapBytes)} of values`);
      // The ceiling, not the pickle's size, stopped it: a state dict this large may be real, so say what to do.
      throw new TruecastError(
        "PICKLE_BUDGET",
        `${this.fileName}: the pickle (${this.pickleBytes} bytes) builds more than ${mb(this.limits.heapBytes)} of values, the most truecast ` +
          "holds for one pickle (about 100,000 tensors); save the state dict in smaller shards (save_pretrained's max_shard_size) or as safetensors",
      );
    }
  }

  /** A new array, tuple or object holding `slots` elements. */
  object(slots = 0): void {
    this.charge(OBJECT_COST + slots * SLOT_COST);
  }

  /** A new dict or set holding `slots` elements (a dict entry counts two). */
  table(slots = 0): void {
    this.charge(TABLE_COST + slots * SLOT_COST);
  }

  /** `n` more slots in an existing container, or copied by a call. */
  slots(n: number): void {
    this.charge(n * SLOT_COST);
  }

  /** A new string or bytes value of `n` bytes (callers count a string's characters twice when it is not latin-1). */
  bytes(n: number): void {
    this.charge(STRING_COST + n);
  }

  /** Before a memo write that would hold `size + 1` entries; `dense` when it is the next index in order. */
  memo(size: number, dense = true): void {
    if (size >= this.limits.memoEntries) throw this.refuse(`memoizes more than ${this.limits.memoEntries} values`);
    this.charge(dense ? MEMO_ENTRY_COST : SPARSE_MEMO_ENTRY_COST);
  }

  /** A memo index the pickle reads back, noted before unpickling or kept while unpickling. */
  memoRead(): void {
    this.charge(READ_MEMO_ENTRY_COST);
  }

  /**
   * Mark `v` as reachable from more than one place (a memo entry the pickle reads, a DUP, an element a hook put
   * into a new container): {@link PickleBudget.release} never refunds it, nor anything inside it.
   */
  share(v: PickleValue): void {
    if (!isContainer(v) || this.#shared.has(v)) return;
    this.charge(SHARE_COST);
    this.#shared.add(v);
  }

  /** Whether `v` may be reachable from more than one place. */
  isShared(v: PickleValue): boolean {
    return isContainer(v) && this.#shared.has(v);
  }

  /**
   * Refund `v`, a value its only holder has just dropped (a POP, the arguments of a call, a persistent id, the state
   * of a BUILD), and every unshared container inside it: they are garbage now, so the budget counts what is alive,
   * not everything ever built. A container is unshared when nothing but its one holder reaches it: values reach a
   * second place only through the memo, DUP, or a hook, and each of those marks them shared. Strings and bytes are
   * never refunded (they are not tracked), nor is anything a hook built. With `deep` false, only `v` itself.
   */
  release(v: PickleValue, deep = true): void {
    const todo: PickleValue[] = [v];
    for (let x = todo.pop(); x !== undefined; x = todo.pop()) {
      if (!isContainer(x) || this.#shared.has(x)) continue;
      if (Array.isArray(x)) {
        this.heap -= OBJECT_COST + x.length * SLOT_COST;
        if (deep) for (const e of x as readonly PickleValue[]) if (isContainer(e)) todo.push(e);
      } else if (x instanceof Map) {
        this.heap -= TABLE_COST + 2 * x.size * SLOT_COST;
        if (deep) for (const [k, e] of x) {
          if (isContainer(k)) todo.push(k);
          if (isContainer(e)) todo.push(e);
        }
      } else {
        this.heap -= TABLE_COST + x.size * SLOT_COST;
        if (deep) for (const e of x) if (isContainer(e)) todo.push(e);
      }
    }
    if (this.heap < 0) this.heap = 0;
  }

  /** Before a push that would hold `size + 1` values. */
  stack(size: number): void {
    if (size >= this.limits.stackValues) throw this.refuse(`holds more than ${this.limits.stackValues} values on its stack at once`);
  }

  /** Before a MARK that would leave `open + 1` open. */
  mark(open: number): void {
    if (open >= this.limits.marks) throw this.refuse(`nests more than ${this.limits.marks} MARKs`);
  }
}

