/**
 * A safetensors header read in pieces of about 1 MB, so that a 100 MB header is checked with a megabyte in memory
 * instead of its bytes plus a table of every tensor. The JSON object is cut at its own top-level commas: each piece
 * is a run of whole members, read with the strict reader as the body of an object of its own (UTF-8, JSON syntax,
 * duplicate fields, every entry's rules). Pieces that each read as an object with at least one member join, comma
 * by comma, into one valid object, whatever the cuts: a header whose pieces all read is a valid JSON object. What
 * needs the whole header (a name repeated in two pieces, the layout, the file size) is the caller's to check,
 * typically by comparing each piece with the rows it expects.
 */
import { TruecastError } from "../../errors.js";
import type { RandomAccess } from "../zip.js";
import { readHeaderSize } from "./header.js";
import { scanHeader, type ScanTarget } from "./header-entries.js";
import { HEADER_LENGTH_PREFIX } from "./spec.js";
import { isValidUtf8 } from "./strict-json.js";
import type { TensorTable } from "./tensor-table.js";

/** Bytes read at a time; a piece is this long, or one member when a member is longer. */
export const PIECE_BYTES = 1 << 20;

export interface HeaderPiece {
  /** The tensors read so far (those of the piece alone, unless the pieces are read into one target), in header order. */
  readonly table: TensorTable;
  /** The first row of {@link table} that this piece added. */
  readonly from: number;
  /** The piece's `__metadata__`, or null when it holds none (or `null`). */
  readonly metadata: Record<string, string> | null;
  /** Members of the object in the piece: its tensors, plus one for a `__metadata__` key. */
  readonly members: number;
  /** Where the piece starts in the file. */
  readonly start: number;
}


/** Where the top-level object's member separators are, as the bytes go by: the state carries from read to read. */
class Cutter {
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Top-level commas seen since the last cut. */
  commas = 0;

  /** Scans `bytes`; returns the position of the last top-level comma in it (-1 for none) and the commas before it. */
  scan(bytes: Uint8Array): { last: number; before: number } {
    let last = -1;
    let before = 0;
    const n = bytes.length;
    for (let p = 0; p < n; ) {
      if (this.inString) {
        if (this.escaped) {
          this.escaped = false;
          p++;
          continue;
        }
        // Most of a header is strings: jump to the next quote; the backslashes right before it say if it closes.
        const q = bytes.indexOf(0x22, p);
        const end = q < 0 ? n : q;
        let s = end;
        while (s > p && bytes[s - 1] === 0x5c) s--;
        const odd = (end - s) % 2 === 1;
        if (q < 0) {
          this.escaped = odd;
          break;
        }
        if (!odd) this.inString = false;
        p = q + 1;
        continue;
      }
      const c = bytes[p++] as number;
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) this.depth++;
      else if (c === 0x7d || c === 0x5d) this.depth--;
      else if (c === 0x2c && this.depth === 1) {
        before = this.commas;
        this.commas++;
        last = p - 1;
      }
    }
    return { last, before };
  }
}

/** Is there anything but whitespace between the first and the last non-whitespace byte of `b` (an object's braces)? */
function hasMember(b: Uint8Array): boolean {
  const space = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
  let first = 0;
  while (first < b.length && space(b[first] as number)) first++;
  let last = b.length - 1;
  while (last > first && space(b[last] as number)) last--;
  for (let p = first + 1; p < last; p++) if (!space(b[p] as number)) return true;
  return false;
}

/**
 * Reads the header of `file` piece by piece, giving each to `each` in header order; returns the header's size N.
 * Throws the reader's error (ST_TRUNCATED, ST_HEADER_UTF8, ST_HEADER_JSON, ST_DUPLICATE_KEY, ST_BAD_ENTRY, ...) for a
 * piece that breaks a rule, naming the bytes of the file it covers.
 */
export async function readHeaderPieces(params: {
  file: RandomAccess;
  path: string;
  each: (piece: HeaderPiece) => void;
  pieceBytes?: number;
  /** Read every piece into this one table (a name repeated across pieces is then ST_DUPLICATE_KEY); default a table per piece. */
  into?: ScanTarget;
}): Promise<number> {
  const { file, path, each } = params;
  const pieceBytes = params.pieceBytes ?? PIECE_BYTES;
  const prefix = await file.read(0, HEADER_LENGTH_PREFIX);
  const size = readHeaderSize({ prefix, fileSize: file.size, file: path });
  const cutter = new Cutter();
  /** Bytes read since the last cut (scanned), and where they start in the header. */
  let held: Uint8Array[] = [];
  let heldStart = 0;
  let first = true;
  let scratch = Buffer.allocUnsafeSlow(0);
  /** The bytes `parts` hold, one after the other, as a piece. */
  const piece = (parts: readonly Uint8Array[], last: boolean, members: number): number => {
    const bytes = parts.reduce((n, b) => n + b.length, 0);
    const start = HEADER_LENGTH_PREFIX + heldStart;
    const where = `${path}: header bytes ${start}..${start + bytes}`;
    // The piece as an object of its own, in a buffer reused from piece to piece.
    const length = bytes + (first ? 0 : 1) + (last ? 0 : 1);
    if (scratch.length < length) scratch = Buffer.allocUnsafeSlow(Math.max(length, 2 * scratch.length));
    const text = scratch.subarray(0, length);
    let at = 0;
    if (!first) text[at++] = 0x7b;
    for (const b of parts) {
      text.set(b, at);
      at += b.length;
    }
    if (!last) text[at] = 0x7d;
    // The braces added are ASCII: the text is valid UTF-8 exactly when the piece is.
    if (!isValidUtf8(text)) throw new TruecastError("ST_HEADER_UTF8", `${where} are not valid UTF-8; the file is damaged`);
    const from = params.into?.table.count ?? 0;
    const read = scanHeader(text, where, params.into);
    if ("json" in read) {
      const what = read.json.problem === "duplicate" ? `name "${read.json.key}" twice` : read.json.detail;
      throw new TruecastError(read.json.problem === "duplicate" ? "ST_DUPLICATE_KEY" : "ST_HEADER_JSON", `${where} are not valid JSON (${what}); the file is damaged`);
    }
    if (!read.scan.ok) throw read.scan.problem;
    // `{` + `,` + `}` reads as an empty object: a piece of a header cut in two or more holds a member.
    const any = hasMember(text);
    if (!(first && last) && !any) throw new TruecastError("ST_HEADER_JSON", `${where} are not valid JSON (an empty member); the file is damaged`);
    each({ table: read.scan.table, from, metadata: read.scan.metadata, members: any ? members : 0, start });
    first = false;
    return bytes;
  };
  for (let at = 0; at < size; ) {
    const n = Math.min(pieceBytes, size - at);
    const bytes = await file.read(HEADER_LENGTH_PREFIX + at, n);
    if (bytes.length < n) {
      throw new TruecastError("ST_TRUNCATED", `${path}: the file ends inside its ${size}-byte header; it looks truncated: re-download or re-copy it`);
    }
    at += n;
    const { last, before } = cutter.scan(bytes);
    if (last < 0) {
      held.push(bytes);
      continue;
    }
    // Everything held, and this read up to its last top-level comma, is a run of whole members.
    heldStart += piece([...held, bytes.subarray(0, last)], false, before + 1) + 1;
    held = [bytes.subarray(last + 1)];
    cutter.commas = 0;
  }
  piece(held, true, cutter.commas + 1);
  return size;
}
