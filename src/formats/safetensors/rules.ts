/**
 * The layout rules of a safetensors header, shared by the reader and the writer: entries sorted by offset
 * must tile the data buffer from 0 with no hole and no overlap, each shape's element count must not
 * overflow, and each entry's byte range must be exactly numel × element size. Checked per tensor in offset
 * order, as the reference `Metadata::validate` does.
 */
import { TruecastError } from "../../errors.js";
import { byteLengthOf, dtypeBits, type DType } from "../../dtype/table.js";
import type { SafetensorsEntry } from "./spec.js";
import type { TensorTable } from "./tensor-table.js";
import type { NameColumn } from "./name-table.js";

/**
 * An entry whose numbers are still exact: a dimension may exceed 2^53 until checked, so it is a bigint when
 * it does (a number otherwise, which costs less to hold).
 */
export interface RawEntry {
  name: string;
  dtype: DType;
  shape: ReadonlyArray<number | bigint>;
  begin: bigint;
  end: bigint;
}

/** The reference reader counts elements and bits in a `usize`: 64 bits on the machines that run it. */
const USIZE_MAX = (1n << 64n) - 1n;

export function describeShape(shape: readonly (number | bigint)[]): string {
  return `[${shape.join(", ")}]`;
}

/**
 * Sorts entries by (begin, end) — stable, so zero-size tensors sharing an offset keep their order — and
 * checks contiguity, overflow and byte length for each in turn. Returns the sorted entries.
 */
export function checkLayout(params: { entries: readonly RawEntry[]; file: string }): RawEntry[] {
  const { file } = params;
  const sorted = [...params.entries].sort((a, b) => cmp(a.begin, b.begin) || cmp(a.end, b.end));
  let expected = 0n;
  let previous: RawEntry | undefined;
  for (const e of sorted) {
    if (e.begin !== expected) throw notContiguous({ file, entry: e, expected, previous });
    expected = e.end;
    previous = e;
    checkEntry(e, file);
  }
  return sorted;
}

/** Overflow and byte length of one entry. */
function checkEntry(e: RawEntry, file: string): void {
  let numel = 1n;
  for (const d of e.shape) {
    numel *= BigInt(d);
    if (numel > USIZE_MAX) throw overflow(file, e);
  }
  const bits = numel * BigInt(dtypeBits(e.dtype));
  if (bits > USIZE_MAX) throw overflow(file, e);
  const need = byteLengthOf(e.dtype, numel);
  const have = e.end - e.begin;
  if (need === null) {
    throw new TruecastError(
      "ST_BYTE_LENGTH",
      `${file}: tensor "${e.name}" has shape ${describeShape(e.shape)} of ${e.dtype}, whose ${numel} elements do not ` +
        "fill a whole number of bytes; the header is damaged",
    );
  }
  if (need !== have) {
    throw new TruecastError(
      "ST_BYTE_LENGTH",
      `${file}: tensor "${e.name}" has ${have} bytes (data_offsets [${e.begin}, ${e.end}]) but shape ` +
        `${describeShape(e.shape)} of ${e.dtype} needs ${need}; the header is damaged`,
    );
  }
}

/** 2^53: a product of exact numbers that stays below it is exact. */
const EXACT = 2 ** 53;

/**
 * {@link checkLayout} for a table: the same rules, order and messages, with plain numbers for the common case (a
 * tensor holding a number past 2^53 - 1 is checked exactly, by its {@link TensorTable.raw} entry). Returns the
 * table sorted by (begin, end): `table` itself when it already is.
 */
export function checkTableLayout<N extends NameColumn>(table: TensorTable<N>, file: string): TensorTable<N> | TensorTable {
  const sorted = sortedByOffset(table);
  let expected = 0;
  for (let i = 0; i < sorted.count; i++) {
    if (sorted.isBig(i)) {
      // Exact from here on: the rest of the rules are checked on bigints.
      checkRawFrom(sorted, i, expected, file);
      return sorted;
    }
    const begin = sorted.begin(i);
    if (begin !== expected) throw notContiguous({ file, entry: sorted.raw(i), expected: BigInt(expected), previous: i > 0 ? sorted.raw(i - 1) : undefined });
    expected = sorted.end(i);
    let numel = 1;
    for (let k = 0, rank = sorted.rank(i); k < rank && numel < EXACT; k++) numel *= sorted.dim(i, k);
    const bits = numel * dtypeBits(sorted.dtype(i));
    if (numel >= EXACT || bits >= EXACT) {
      checkEntry(sorted.raw(i), file); // the exact rules (overflow is checked after each dimension)
      continue;
    }
    if (bits % 8 !== 0 || bits / 8 !== expected - begin) checkEntry(sorted.raw(i), file);
  }
  return sorted;
}

/** The rules from tensor `from` on, exactly (bigints): throws at the first broken rule. */
function checkRawFrom(sorted: TensorTable<NameColumn>, from: number, expectedAt: number, file: string): void {
  let expected = BigInt(expectedAt);
  let previous = from > 0 ? sorted.raw(from - 1) : undefined;
  for (let i = from; i < sorted.count; i++) {
    const e = sorted.raw(i);
    if (e.begin !== expected) throw notContiguous({ file, entry: e, expected, previous });
    expected = e.end;
    previous = e;
    checkEntry(e, file);
  }
}

/** A table sorted by (begin, end), stable: `table` itself when it already is. */
function sortedByOffset<N extends NameColumn>(table: TensorTable<N>): TensorTable<N> | TensorTable {
  const before = (i: number, j: number): number => {
    if (!table.isBig(i) && !table.isBig(j)) return table.begin(i) - table.begin(j) || table.end(i) - table.end(j);
    const a = table.raw(i);
    const b = table.raw(j);
    return cmp(a.begin, b.begin) || cmp(a.end, b.end);
  };
  let sorted = true;
  for (let i = 1; i < table.count && sorted; i++) sorted = before(i - 1, i) <= 0;
  if (sorted) return table;
  const order = Array.from({ length: table.count }, (_, i) => i).sort(before);
  return table.reordered(order);
}

/**
 * The checked table's dimensions as plain numbers: a dimension past 2^53 - 1 (possible only in a zero-element
 * tensor) cannot be represented and is refused, for the first such tensor in offset order.
 */
export function checkTableShapes(sorted: TensorTable, file: string): void {
  if (!sorted.hasBig) return;
  for (let i = 0; i < sorted.count; i++) if (sorted.isBig(i)) toEntries([sorted.raw(i)], file);
}

/**
 * Converts checked entries to plain numbers. Offsets are already bounded by the file size; a dimension
 * past 2^53 - 1 (possible only in a zero-element tensor) cannot be represented and is refused.
 */
export function toEntries(sorted: readonly RawEntry[], file: string): SafetensorsEntry[] {
  return sorted.map((e) => {
    const shape = e.shape.map((d) => {
      if (typeof d === "bigint" && d > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new TruecastError(
          "ST_SHAPE_OVERFLOW",
          `${file}: tensor "${e.name}" has a dimension of ${d}, beyond the 2^53 - 1 truecast can represent`,
        );
      }
      return Number(d);
    });
    return { name: e.name, dtype: e.dtype, shape, begin: Number(e.begin), end: Number(e.end) };
  });
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function overflow(file: string, e: RawEntry): TruecastError {
  return new TruecastError(
    "ST_SHAPE_OVERFLOW",
    `${file}: tensor "${e.name}" has shape ${describeShape(e.shape)} of ${e.dtype}, whose size overflows 64 bits; ` +
      "the header is damaged",
  );
}

function notContiguous(params: {
  file: string;
  entry: RawEntry;
  expected: bigint;
  previous: RawEntry | undefined;
}): TruecastError {
  const { file, entry, expected, previous } = params;
  const where = `data_offsets [${entry.begin}, ${entry.end}]`;
  let what: string;
  if (previous === undefined) {
    what = `the first tensor by offset, "${entry.name}", starts at byte ${entry.begin} (${where}), not at 0`;
  } else if (entry.begin > expected) {
    what =
      `there is a hole of ${entry.begin - expected} bytes between tensor "${previous.name}" (ends at ${expected}) ` +
      `and tensor "${entry.name}" (${where})`;
  } else {
    what = `tensor "${entry.name}" (${where}) overlaps tensor "${previous.name}", which ends at ${expected}`;
  }
  return new TruecastError(
    "ST_NOT_CONTIGUOUS",
    `${file}: ${what}; tensors must cover the data buffer exactly, without holes or shared bytes`,
  );
}
