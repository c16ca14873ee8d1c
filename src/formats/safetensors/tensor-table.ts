/**
 * The tensors of a safetensors header as columns (struct of arrays): names in one {@link NameTable}, dtypes,
 * offsets and shapes in typed arrays. A million tensors cost about 50 bytes each (their name's bytes, two offsets,
 * a dtype byte, their dimensions: four bytes each while they fit in 32 bits), not the ~250 of an object per entry. Values past 2^53 - 1 (only in damaged or
 * hostile headers) are kept exactly beside the columns, so every rule and message sees the header's numbers. A
 * writer's table may hold its names by reference ({@link NameRefs}: a plan's names are its sources').
 */
import { DTYPES, type DType } from "../../dtype/table.js";
import { NameTable, type NameColumn } from "./name-table.js";
import { NumberColumn } from "./number-column.js";
import type { RawEntry } from "./rules.js";
import type { SafetensorsEntry } from "./spec.js";

const INITIAL = 1 << 8;

/** One tensor's columns as read from JSON: numbers while exact, bigints past 2^53 - 1. */
export interface TableRow {
  readonly dtype: DType;
  readonly shape: ReadonlyArray<number | bigint>;
  readonly begin: number | bigint;
  readonly end: number | bigint;
}

export class TensorTable<N extends NameColumn = NameTable> {
  readonly names: N;
  private dtypeCodes: Uint8Array;
  /** Offsets and dimensions: four bytes each while they fit in 32 bits. */
  private readonly begins: NumberColumn;
  private readonly ends: NumberColumn;
  /** Shape of tensor `i`: `dims[shapeStarts[i] .. shapeStarts[i + 1])`. */
  private shapeStarts: Uint32Array;
  private readonly dims: NumberColumn;
  private dimCount = 0;
  /** Tensors with a number past 2^53 - 1, exactly as read (their columns hold NaN there). */
  private big: Map<number, RawEntry> | null = null;
  private rows = 0;

  /**
   * A table whose names go into `names`: give one unless `N` is {@link NameTable} (then a table of its own). With
   * `rows`, room for that many tensors of one dimension each is made at once (a writer knows its count).
   */
  constructor(names?: N, rows = INITIAL) {
    this.names = names ?? (new NameTable() as NameColumn as N);
    const n = Math.max(1, rows);
    this.dtypeCodes = new Uint8Array(n);
    this.begins = new NumberColumn(n);
    this.ends = new NumberColumn(n);
    this.shapeStarts = new Uint32Array(n + 1);
    this.dims = new NumberColumn(n);
  }

  get count(): number {
    return this.rows;
  }

  /** Adds a tensor whose name was just added to {@link names} (as name number `count`). */
  pushRow(row: TableRow): void {
    const i = this.rows++;
    if (this.names.count !== this.rows) throw new Error("TensorTable: a row without its name");
    if (i >= this.begins.length) this.growRows();
    if (this.dimCount + row.shape.length > this.dims.length) this.dims.grow(Math.max(this.dims.length * 2, this.dimCount + row.shape.length));
    let exact = typeof row.begin === "number" && typeof row.end === "number";
    this.dtypeCodes[i] = DTYPES.indexOf(row.dtype);
    this.begins.set(i, typeof row.begin === "number" ? row.begin : NaN);
    this.ends.set(i, typeof row.end === "number" ? row.end : NaN);
    for (const d of row.shape) {
      exact &&= typeof d === "number";
      this.dims.set(this.dimCount++, typeof d === "number" ? d : NaN);
    }
    this.shapeStarts[i + 1] = this.dimCount;
    if (!exact) {
      this.big ??= new Map();
      this.big.set(i, { name: this.names.name(i), dtype: row.dtype, shape: [...row.shape], begin: BigInt(row.begin), end: BigInt(row.end) });
    }
  }

  /** Adds a tensor with its name. */
  push(this: TensorTable, name: string, row: TableRow): void {
    this.names.addString(name);
    this.pushRow(row);
  }

  name(i: number): string {
    return this.names.name(i);
  }

  dtype(i: number): DType {
    return DTYPES[this.dtypeCodes[i] as number] as DType;
  }

  /** Whether tensor `i` holds a number past 2^53 - 1 (then only {@link raw} gives its exact values). */
  isBig(i: number): boolean {
    return this.big !== null && this.big.has(i);
  }

  /** Whether any tensor does. */
  get hasBig(): boolean {
    return this.big !== null;
  }

  begin(i: number): number {
    return this.begins.get(i);
  }

  end(i: number): number {
    return this.ends.get(i);
  }

  rank(i: number): number {
    return (this.shapeStarts[i + 1] as number) - (this.shapeStarts[i] as number);
  }

  dim(i: number, k: number): number {
    return this.dims.get((this.shapeStarts[i] as number) + k);
  }

  /** A fresh array. */
  shape(i: number): number[] {
    const out: number[] = [];
    for (let p = this.shapeStarts[i] as number, end = this.shapeStarts[i + 1] as number; p < end; p++) out.push(this.dims.get(p));
    return out;
  }

  /** The dimensions joined by `separator` ("1,2"), without making an array. */
  shapeText(i: number, separator: string): string {
    let out = "";
    for (let p = this.shapeStarts[i] as number, end = this.shapeStarts[i + 1] as number; p < end; p++) {
      out += p === this.shapeStarts[i] ? `${this.dims.get(p)}` : `${separator}${this.dims.get(p)}`;
    }
    return out;
  }

  /** Tensor `i` with exact numbers, for rules and messages. */
  raw(i: number): RawEntry {
    const big = this.big?.get(i);
    if (big) return big;
    return { name: this.name(i), dtype: this.dtype(i), shape: this.shape(i), begin: BigInt(this.begin(i)), end: BigInt(this.end(i)) };
  }

  /** Tensor `i` as an entry of plain numbers (only for tensors that are not {@link isBig}). */
  entry(i: number): SafetensorsEntry {
    return { name: this.name(i), dtype: this.dtype(i), shape: this.shape(i), begin: this.begin(i), end: this.end(i) };
  }

  /** The same tensors in the order `order` gives (tensor `order[k]` becomes tensor `k`). */
  reordered(order: ArrayLike<number>): TensorTable {
    const out = new TensorTable<NameTable>(undefined, order.length);
    for (let k = 0; k < order.length; k++) {
      const i = order[k] as number;
      const big = this.big?.get(i);
      out.names.addBytes(this.names.view(i), 0, this.names.byteLength(i));
      out.pushRow(big ?? { dtype: this.dtype(i), shape: this.shape(i), begin: this.begin(i), end: this.end(i) });
    }
    return out;
  }

  private growRows(): void {
    const n = this.begins.length * 2;
    this.dtypeCodes = grow(this.dtypeCodes, n);
    this.begins.grow(n);
    this.ends.grow(n);
    this.shapeStarts = grow(this.shapeStarts, n + 1);
  }
}

function grow<T extends Uint8Array | Uint32Array>(a: T, n: number): T {
  const out = new (a.constructor as new (n: number) => T)(n);
  out.set(a);
  return out;
}
