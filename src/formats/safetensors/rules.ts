/**
 * The layout rules of a safetensors header, shared by the reader and the writer: entries sorted by offset
 * must tile the data buffer from 0 with no hole and no overlap, each shape's element count must not
 * overflow, and each entry's byte range must be exactly numel × element size. Checked per tensor in offset
 * order, as the reference `Metadata::validate` does.
 */
import { TruecastError } from "../../errors.js";
import { byteLengthOf, dtypeBits, type DType } from "../../dtype/table.js";
import type { SafetensorsEntry } from "./spec.js";

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
  return sorted;
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
