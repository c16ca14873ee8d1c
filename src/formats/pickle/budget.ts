/**
 * What one unpickle may build, in proportion to the pickle's size. A pickle is a program: memo GET makes a value
 * reusable for free and an allowed call copies its arguments, so a few hundred KB can ask for gigabytes. The
 * budget counts an estimate of the heap every value takes (objects, their slots, and the bytes of strings and
 * bytes, including what calls copy or create), the memo, the stack and the MARK nesting, and refuses the pickle
 * with one PICKLE_BUDGET error the moment one runs out. The estimates follow V8's sizes loosely, rounded up.
 */
import { TruecastError } from "../../errors.js";

/** Estimated heap bytes of one new array, tuple, global or descriptor object, before its slots. */
export const OBJECT_COST = 48;
/** Estimated heap bytes of one new (empty) dict or set: V8 allocates its hash table up front (measured: ~230). */
export const TABLE_COST = 240;
/** Estimated heap bytes of one slot of a container (an element; a dict entry counts two). */
export const SLOT_COST = 12;
/** Estimated heap bytes of a string or bytes value beyond its characters. */
export const STRING_COST = 24;

/**
 * Heap estimate allowed per byte of pickle. The estimate adds up everything built, garbage included; torch-written
 * state dicts need 8 to 12 a byte (100k tensors with module metadata: 9.5; 10k parameters: 12; checked at test time
 * in test/formats/torch/real-checkpoints.test.ts). A pickle that builds more is not a state dict.
 */
export const HEAP_PER_PICKLE_BYTE = 32;
/** Heap estimate every pickle may use, however small. */
export const HEAP_FLOOR = 64 * 1024 * 1024;
/** Memo entries allowed per byte of pickle, and the floor. torch's pickles memoize about one value per 20 bytes. */
export const MEMO_PER_PICKLE_BYTE = 0.25;
export const MEMO_FLOOR = 1_000_000;
/** Values on the stack at once: torch batches 1,000 items per MARK, and nesting is shallow. */
export const MAX_STACK = 500_000;
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
    heapBytes: Math.max(HEAP_FLOOR, Math.ceil(pickleBytes * HEAP_PER_PICKLE_BYTE)),
    memoEntries: Math.max(MEMO_FLOOR, Math.ceil(pickleBytes * MEMO_PER_PICKLE_BYTE)),
    stackValues: MAX_STACK,
    marks: MAX_MARKS,
  };
}

function mb(n: number): string {
  return `${Math.round(n / (1024 * 1024))} MB`;
}

/** The running account of one unpickle. Hooks charge what they copy or create through {@link PickleBudget.slots} / {@link PickleBudget.bytes}. */
export class PickleBudget {
  private heap = 0;
  readonly limits: BudgetLimits;
  constructor(
    private readonly fileName: string,
    private readonly pickleBytes: number,
    limits?: BudgetLimits,
  ) {
    this.limits = limits ?? budgetLimits(pickleBytes);
  }

  /** Heap estimated so far. */
  get used(): number {
    return this.heap;
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
    if (this.heap > this.limits.heapBytes) throw this.refuse(`builds more than ${mb(this.limits.heapBytes)} of values`);
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

  /** Before a memo write that would hold `size + 1` entries. */
  memo(size: number): void {
    if (size >= this.limits.memoEntries) throw this.refuse(`memoizes more than ${this.limits.memoEntries} values`);
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

