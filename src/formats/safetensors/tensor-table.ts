/**
 * The tensors of a safetensors header as columns (struct of arrays): names in one {@link NameTable}, dtypes,
 * offsets and shapes in typed arrays. A million tensors cost about 60 bytes each (their name's bytes, two offsets,
 * a dtype byte, their dimensions), not the ~250 of an object per entry. Values past 2^53 - 1 (only in damaged or
 * hostile headers) are kept exactly beside the columns, so every rule and message sees the header's numbers. A
 * writer's table may hold its names by reference ({@link NameRefs}: a plan's names are its sources').
 */
import { DTYPES, type DType } from "../../dtype/table.js";
import { NameTable, type NameColumn } from "./name-table.js";
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
  private dtypeCodes = new Uint8Array(INITIAL);
  private begins = new Float64Array(INITIAL);
  private ends = new Float64Array(INITIAL);
  /** Shape of tensor `i`: `dims[shapeStarts[i] .. shapeStarts[i + 1])`. */
  private shapeStarts = new Uint32Array(INITIAL + 1);
  private dims = new Float64Array(INITIAL);
  private dimCount = 0;
  /** Tensors with a number past 2^53 - 1, exactly as read (their columns hold NaN there). */
  private big: Map<number, RawEntry> | null = null;
  private rows = 0;

  /** A table whose names go into `names`: give one unless `N` is {@link NameTable} (then a table of its own). */
  constructor(names?: N) {
    this.names = names ?? (new NameTable() as NameColumn as N);
  }

  get count(): number {
    return this.rows;
  }

  /** Adds a tensor whose name was just added to {@link names} (as name number `count`). */
  pushRow(row: TableRow): void {
    const i = this.rows++;
    if (this.names.count !== this.rows) throw new Error("TensorTable: a row without its name");
    if (i >= this.begins.length) this.growRows();
    while (this.dimCount + row.shape.length > this.dims.length) this.dims = grow(this.dims, this.dims.length * 2);
    let exact = typeof row.begin === "number" && typeof row.end === "number";
    this.dtypeCodes[i] = DTYPES.indexOf(row.dtype);
    this.begins[i] = typeof row.begin === "number" ? row.begin : NaN;
    this.ends[i] = typeof row.end === "number" ? row.end : NaN;
    for (const d of row.shape) {
      exact &&= typeof d === "number";
      this.dims[this.dimCount++] = typeof d === "number" ? d : NaN;
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
    return this.begins[i] as number;
  }

  end(i: number): number {
    return this.ends[i] as number;
  }

  rank(i: number): number {
    return (this.shapeStarts[i + 1] as number) - (this.shapeStarts[i] as number);
  }

  dim(i: number, k: number): number {
    return this.dims[(this.shapeStarts[i] as number) + k] as number;
  }

  /** A fresh array. */
  shape(i: number): number[] {
    return Array.from(this.dims.subarray(this.shapeStarts[i] as number, this.shapeStarts[i + 1] as number));
  }

  /** The dimensions joined by `separator` ("1,2"), without making an array. */
  shapeText(i: number, separator: string): string {
    let out = "";
    for (let p = this.shapeStarts[i] as number, end = this.shapeStarts[i + 1] as number; p < end; p++) {
      out += p === this.shapeStarts[i] ? `${this.dims[p]}` : `${separator}${this.dims[p]}`;
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
    const out = new TensorTable();
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
    this.begins = grow(this.begins, n);
    this.ends = grow(this.ends, n);
    this.shapeStarts = grow(this.shapeStarts, n + 1);
  }
}

function grow<T extends Uint8Array | Uint32Array | Float64Array>(a: T, n: number): T {
  const out = new (a.constructor as new (n: number) => T)(n);
  out.set(a);
  return out;
}
