/**
 * A read-only zip central directory reader, enough for `torch.save` archives: records are found through the
 * central directory (ZIP64 included) and read in place by offset. Only stored (uncompressed) records can be read.
 * Knows nothing of torch or models.
 */
import type { FileHandle } from "node:fs/promises";
import { TruecastError } from "../errors.js";

/** Positional reads over one file. */
export interface RandomAccess {
  /** File size in bytes. */
  readonly size: number;
  /** Exactly `length` bytes at `position` (fewer only past the end of the file). */
  read(position: number, length: number): Promise<Uint8Array>;
}

/** A {@link RandomAccess} over an open file handle (the caller closes the handle). */
export function fileAccess(handle: FileHandle, size: number): RandomAccess {
  return {
    size,
    async read(position, length) {
      const buf = new Uint8Array(Math.max(0, Math.min(length, size - position)));
      let done = 0;
      while (done < buf.length) {
        const { bytesRead } = await handle.read(buf, done, buf.length - done, position + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done === buf.length ? buf : buf.subarray(0, done);
    },
  };
}

/** One record of the central directory. */
export interface ZipEntry {
  readonly name: string;
  /** 0 = stored; 8 = deflate; anything else is some other compression. */
  readonly method: number;
  readonly compressedSize: bigint;
  readonly uncompressedSize: bigint;
  /** Absolute offset of the record's local file header. */
  readonly localHeaderOffset: bigint;
  /** Absolute offset of the record's data (past the local header, its name and its extra field). */
  readonly dataOffset: number;
}

export interface ZipDirectory {
  /** The records kept (all of them unless the reader was given `keep`), by name. */
  readonly entries: ReadonlyMap<string, ZipEntry>;
  /** Records in the archive, kept or not. */
  readonly count: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_MIN_SIZE = 56;
const CENTRAL_HEADER_SIZE = 46;
const LOCAL_HEADER_SIZE = 30;
/** The end record's comment is at most 65,535 bytes, so the end record lies within this tail of the file. */
const MAX_EOCD_SEARCH = EOCD_SIZE + 0xffff;
/**
 * The central directory is read in one piece; a checkpoint's is a few hundred KB even with thousands of records, and
 * {@link MAX_ZIP_ENTRIES} records of torch's names (`archive/data/123456`: about 70 bytes a record) take 14 MB.
 */
const MAX_CENTRAL_DIRECTORY_BYTES = 32 * 1024 * 1024;
/** Local headers are read this many reads at a time. */
const LOCAL_HEADER_BATCH = 64;
/** Local headers that lie this close together are read in one positional read. */
const LOCAL_HEADER_WINDOW = 256 * 1024;
/**
 * Most records an archive may hold: a torch checkpoint has one per storage (a few thousand per file for the largest
 * models, 100k in a state dict of 100k tensors). A record costs about 50 bytes of columns, plus its name and entry
 * when the caller keeps it; the directory's bytes are read whole (at most {@link MAX_CENTRAL_DIRECTORY_BYTES}).
 */
export const MAX_ZIP_ENTRIES = 200_000;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

function invalid(fileName: string, what: string): TruecastError {
  return new TruecastError("ZIP_INVALID", `${fileName}: ${what}; the file is not a valid zip archive (truncated or damaged?)`);
}

/** A bigint length or offset as a number, refusing what does not fit in the file. */
function toOffset(fileName: string, v: bigint, limit: number, what: string): number {
  if (v < 0n || v > BigInt(limit)) throw invalid(fileName, `${what} ${v} lies beyond the end of the file (${limit} bytes)`);
  return Number(v);
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

interface EndRecord {
  entryCount: bigint;
  cdSize: bigint;
  cdOffset: bigint;
}

async function findEndRecord(file: RandomAccess, fileName: string): Promise<EndRecord> {
  if (file.size < EOCD_SIZE) throw invalid(fileName, `only ${file.size} bytes, too short for a zip end record`);
  const tailLen = Math.min(file.size, MAX_EOCD_SEARCH);
  const tailStart = file.size - tailLen;
  const tail = await file.read(tailStart, tailLen);
  const dv = view(tail);
  for (let p = tail.length - EOCD_SIZE; p >= 0; p--) {
    if (dv.getUint32(p, true) !== SIG_EOCD) continue;
    const commentLen = dv.getUint16(p + 20, true);
    if (p + EOCD_SIZE + commentLen !== tail.length) continue;
    const diskNo = dv.getUint16(p + 4, true);
    const cdDisk = dv.getUint16(p + 6, true);
    const end: EndRecord = {
      entryCount: BigInt(dv.getUint16(p + 10, true)),
      cdSize: BigInt(dv.getUint32(p + 12, true)),
      cdOffset: BigInt(dv.getUint32(p + 16, true)),
    };
    const eocdPos = tailStart + p;
    const locPos = eocdPos - ZIP64_LOCATOR_SIZE;
    const hasLocator = locPos >= 0 && p >= ZIP64_LOCATOR_SIZE && dv.getUint32(p - ZIP64_LOCATOR_SIZE, true) === SIG_ZIP64_LOCATOR;
    if (hasLocator) return readZip64End(file, fileName, dv.getBigUint64(p - ZIP64_LOCATOR_SIZE + 8, true), dv.getUint32(p - ZIP64_LOCATOR_SIZE + 16, true));
    if (diskNo !== 0 || cdDisk !== 0) throw invalid(fileName, "it is split over several disks, which is not supported");
    if (end.entryCount === BigInt(U16_MAX) || end.cdSize === BigInt(U32_MAX) || end.cdOffset === BigInt(U32_MAX)) {
      throw invalid(fileName, "the end record says ZIP64 but no ZIP64 locator precedes it");
    }
    return end;
  }
  throw invalid(fileName, "no end of central directory record found");
}

async function readZip64End(file: RandomAccess, fileName: string, offset: bigint, totalDisks: number): Promise<EndRecord> {
  if (totalDisks > 1) throw invalid(fileName, "it is split over several disks, which is not supported");
  const pos = toOffset(fileName, offset, file.size - ZIP64_EOCD_MIN_SIZE, "the ZIP64 end record offset");
  const rec = await file.read(pos, ZIP64_EOCD_MIN_SIZE);
  const dv = view(rec);
  if (rec.length < ZIP64_EOCD_MIN_SIZE || dv.getUint32(0, true) !== SIG_ZIP64_EOCD) {
    throw invalid(fileName, `no ZIP64 end record at offset ${pos} where the locator points`);
  }
  if (dv.getUint32(16, true) !== 0 || dv.getUint32(20, true) !== 0) throw invalid(fileName, "it is split over several disks, which is not supported");
  return { entryCount: dv.getBigUint64(32, true), cdSize: dv.getBigUint64(40, true), cdOffset: dv.getBigUint64(48, true) };
}

interface CentralRecord {
  name: string;
  method: number;
  flags: number;
  compressedSize: bigint;
  uncompressedSize: bigint;
  localHeaderOffset: bigint;
}

/** Replace 0xFFFFFFFF placeholders with the values of the ZIP64 extended information extra field (id 0x0001). */
function applyZip64Extra(fileName: string, rec: CentralRecord, extra: Uint8Array, diskStart: number): void {
  const dv = view(extra);
  for (let p = 0; p + 4 <= extra.length; ) {
    const id = dv.getUint16(p, true);
    const len = dv.getUint16(p + 2, true);
    if (p + 4 + len > extra.length) throw invalid(fileName, `the extra field of "${rec.name}" is truncated`);
    if (id === 0x0001) {
      let q = p + 4;
      const take = (): bigint => {
        if (q + 8 > p + 4 + len) throw invalid(fileName, `the ZIP64 extra field of "${rec.name}" is too short`);
        const v = dv.getBigUint64(q, true);
        q += 8;
        return v;
      };
      if (rec.uncompressedSize === BigInt(U32_MAX)) rec.uncompressedSize = take();
      if (rec.compressedSize === BigInt(U32_MAX)) rec.compressedSize = take();
      if (rec.localHeaderOffset === BigInt(U32_MAX)) rec.localHeaderOffset = take();
      if (diskStart === U16_MAX && q + 4 <= p + 4 + len && dv.getUint32(q, true) !== 0) {
        throw invalid(fileName, `"${rec.name}" lies on another disk, which is not supported`);
      }
      return;
    }
    p += 4 + len;
  }
}

/**
 * The central directory as columns, one typed-array slot per record (about 50 bytes a record), the names left in the
 * directory's own bytes: a directory of 200,000 records costs a few MB, not an object, a string and three bigints each.
 */
interface Columns {
  readonly cd: Uint8Array;
  readonly nameAt: Uint32Array;
  readonly nameLen: Uint16Array;
  readonly flags: Uint16Array;
  readonly method: Uint16Array;
  readonly compressed: BigUint64Array;
  readonly uncompressed: BigUint64Array;
  readonly local: BigUint64Array;
  /** Where each record's data starts, once its local header is read. */
  readonly data: Float64Array;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function nameOf(c: Columns, i: number): string {
  const at = c.nameAt[i] ?? 0;
  return utf8.decode(c.cd.subarray(at, at + (c.nameLen[i] ?? 0)));
}

/** A kept record, read from the columns. */
class Entry implements ZipEntry {
  constructor(
    readonly name: string,
    private readonly c: Columns,
    private readonly i: number,
  ) {}
  get method(): number {
    return this.c.method[this.i] ?? 0;
  }
  get compressedSize(): bigint {
    return this.c.compressed[this.i] ?? 0n;
  }
  get uncompressedSize(): bigint {
    return this.c.uncompressed[this.i] ?? 0n;
  }
  get localHeaderOffset(): bigint {
    return this.c.local[this.i] ?? 0n;
  }
  get dataOffset(): number {
    return this.c.data[this.i] ?? 0;
  }
}

/** Parse `count` central records into columns; the records `keep` accepts are listed by name (first of a name). */
function parseCentralDirectory(fileName: string, cd: Uint8Array, count: number, keep: (name: string) => boolean): { c: Columns; kept: Map<string, number> } {
  const dv = view(cd);
  const c: Columns = {
    cd,
    nameAt: new Uint32Array(count),
    nameLen: new Uint16Array(count),
    flags: new Uint16Array(count),
    method: new Uint16Array(count),
    compressed: new BigUint64Array(count),
    uncompressed: new BigUint64Array(count),
    local: new BigUint64Array(count),
    data: new Float64Array(count),
  };
  const kept = new Map<string, number>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_HEADER_SIZE > cd.length || dv.getUint32(p, true) !== SIG_CENTRAL) {
      throw invalid(fileName, `central directory record ${i + 1} of ${count} is missing or damaged`);
    }
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    const next = p + CENTRAL_HEADER_SIZE + nameLen + extraLen + commentLen;
    if (next > cd.length) throw invalid(fileName, `central directory record ${i + 1} of ${count} is truncated`);
    let name: string;
    try {
      name = utf8.decode(cd.subarray(p + CENTRAL_HEADER_SIZE, p + CENTRAL_HEADER_SIZE + nameLen));
    } catch {
      throw invalid(fileName, `central directory record ${i + 1} has a name that is not UTF-8`);
    }
    const rec: CentralRecord = {
      name,
      flags: dv.getUint16(p + 8, true),
      method: dv.getUint16(p + 10, true),
      compressedSize: BigInt(dv.getUint32(p + 20, true)),
      uncompressedSize: BigInt(dv.getUint32(p + 24, true)),
      localHeaderOffset: BigInt(dv.getUint32(p + 42, true)),
    };
    const extra = cd.subarray(p + CENTRAL_HEADER_SIZE + nameLen, p + CENTRAL_HEADER_SIZE + nameLen + extraLen);
    applyZip64Extra(fileName, rec, extra, dv.getUint16(p + 34, true));
    c.nameAt[i] = p + CENTRAL_HEADER_SIZE;
    c.nameLen[i] = nameLen;
    c.flags[i] = rec.flags;
    c.method[i] = rec.method;
    c.compressed[i] = rec.compressedSize;
    c.uncompressed[i] = rec.uncompressedSize;
    c.local[i] = rec.localHeaderOffset;
    if (!kept.has(name) && keep(name)) kept.set(name, i);
    p = next;
  }
  return { c, kept };
}

/** Locate record `i`'s data from its local header (the 30 fixed bytes, anywhere in `head`). */
function locateData(fileName: string, c: Columns, i: number, at: number, head: Uint8Array, cdOffset: number): void {
  const dv = view(head);
  if (head.length < LOCAL_HEADER_SIZE || dv.getUint32(0, true) !== SIG_LOCAL) {
    throw invalid(fileName, `no local file header for "${nameOf(c, i)}" at offset ${at}`);
  }
  const dataOffset = at + LOCAL_HEADER_SIZE + dv.getUint16(26, true) + dv.getUint16(28, true);
  const size = c.compressed[i] ?? 0n;
  if (BigInt(dataOffset) + size > BigInt(cdOffset)) {
    throw invalid(fileName, `the data of "${nameOf(c, i)}" (${size} bytes at ${dataOffset}) runs past the central directory`);
  }
  c.data[i] = dataOffset;
}

/**
 * Read every record's local header, in file order, one positional read per group of headers that lie within
 * {@link LOCAL_HEADER_WINDOW} of each other; refuse records whose header and data overlap another's (one local
 * header cannot serve two records). Linear in the number of records, after one sort.
 */
async function locateAll(file: RandomAccess, fileName: string, c: Columns, count: number, cdOffset: number): Promise<void> {
  const at = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const v = c.local[i] ?? 0n;
    if (v > BigInt(cdOffset)) throw invalid(fileName, `the local header of "${nameOf(c, i)}" at ${v} lies beyond the end of the file (${cdOffset} bytes)`);
    at[i] = Number(v);
  }
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  order.sort((a, b) => (at[a] ?? 0) - (at[b] ?? 0) || a - b);
  const pos = (k: number): number => at[order[k] ?? 0] ?? 0;
  // Group g covers order[starts[g]] .. order[starts[g + 1] - 1].
  const starts: number[] = [];
  for (let i = 0; i < count; ) {
    starts.push(i);
    let j = i + 1;
    while (j < count && pos(j) + LOCAL_HEADER_SIZE - pos(i) <= LOCAL_HEADER_WINDOW) j++;
    i = j;
  }
  starts.push(count);
  for (let g = 0; g < starts.length - 1; g += LOCAL_HEADER_BATCH) {
    const batch: Array<Promise<void>> = [];
    for (let h = g; h < Math.min(g + LOCAL_HEADER_BATCH, starts.length - 1); h++) {
      const from = starts[h] ?? 0;
      const to = starts[h + 1] ?? 0;
      batch.push((async () => {
        const start = pos(from);
        const span = await file.read(start, pos(to - 1) + LOCAL_HEADER_SIZE - start);
        for (let k = from; k < to; k++) {
          const p = pos(k);
          locateData(fileName, c, order[k] ?? 0, p, span.subarray(p - start, p - start + LOCAL_HEADER_SIZE), cdOffset);
        }
      })());
    }
    await Promise.all(batch);
  }
  let end = 0;
  let prev = -1;
  for (let k = 0; k < count; k++) {
    const i = order[k] ?? 0;
    if ((at[i] ?? 0) < end) {
      throw invalid(fileName, `records "${nameOf(c, prev)}" and "${nameOf(c, i)}" overlap (both use the bytes at offset ${at[i]})`);
    }
    end = (c.data[i] ?? 0) + Number(c.compressed[i] ?? 0n);
    prev = i;
  }
}

/** Which records repeat the name of an earlier one: names sorted (by hash, then bytes, then position), compared with their neighbours. */
function laterDuplicates(c: Columns, count: number): Uint8Array {
  const hash = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    let h = 0x811c9dc5; // FNV-1a
    const at = c.nameAt[i] ?? 0;
    for (let k = at; k < at + (c.nameLen[i] ?? 0); k++) h = Math.imul(h ^ (c.cd[k] ?? 0), 0x01000193) >>> 0;
    hash[i] = h;
  }
  const bytes = (a: number, b: number): number => {
    const la = c.nameLen[a] ?? 0;
    const lb = c.nameLen[b] ?? 0;
    const pa = c.nameAt[a] ?? 0;
    const pb = c.nameAt[b] ?? 0;
    for (let k = 0; k < Math.min(la, lb); k++) {
      const d = (c.cd[pa + k] ?? 0) - (c.cd[pb + k] ?? 0);
      if (d !== 0) return d;
    }
    return la - lb;
  };
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  order.sort((a, b) => (hash[a] ?? 0) - (hash[b] ?? 0) || bytes(a, b) || a - b);
  const dup = new Uint8Array(count);
  for (let k = 1; k < count; k++) {
    const a = order[k - 1] ?? 0;
    const b = order[k] ?? 0;
    if (hash[a] === hash[b] && bytes(a, b) === 0) dup[b] = 1;
  }
  return dup;
}

/**
 * Read a zip's central directory and locate every record's data. Every record is checked (names, sizes, local
 * headers, overlaps, encryption, duplicate names) but only those `keep` accepts (default: all) are listed, so that a
 * caller who needs a few records of a large archive holds only those.
 */
export async function readZipDirectory(params: {
  file: RandomAccess;
  fileName: string;
  keep?: (name: string) => boolean;
  /**
   * Called once the central directory is parsed, before any local header is read, with the number of records and
   * the kept records' names and sizes: throws to refuse an archive with more records than the caller can use.
   */
  checkCount?: (count: number, kept: Iterable<string>, sizeOf: (name: string) => bigint) => void;
}): Promise<ZipDirectory> {
  const { file, fileName } = params;
  const end = await findEndRecord(file, fileName);
  const cdOffset = toOffset(fileName, end.cdOffset, file.size, "the central directory offset");
  if (end.cdSize > BigInt(MAX_CENTRAL_DIRECTORY_BYTES)) {
    throw invalid(fileName, `its central directory claims ${end.cdSize} bytes, more than the ${MAX_CENTRAL_DIRECTORY_BYTES} this reader accepts`);
  }
  const cdSize = toOffset(fileName, end.cdSize, file.size - cdOffset, "the central directory size");
  if (end.entryCount > BigInt(Math.floor(cdSize / CENTRAL_HEADER_SIZE))) {
    throw invalid(fileName, `it claims ${end.entryCount} records, more than its central directory of ${cdSize} bytes can hold`);
  }
  if (end.entryCount > BigInt(Math.floor(cdOffset / LOCAL_HEADER_SIZE))) {
    throw invalid(fileName, `it claims ${end.entryCount} records, more than the ${cdOffset} bytes before its central directory can hold`);
  }
  if (end.entryCount > BigInt(MAX_ZIP_ENTRIES)) {
    throw invalid(fileName, `it claims ${end.entryCount} records, more than the ${MAX_ZIP_ENTRIES} this reader accepts (a checkpoint has one per storage)`);
  }
  const count = Number(end.entryCount);
  const cd = await file.read(cdOffset, cdSize);
  const { c, kept } = parseCentralDirectory(fileName, cd, count, params.keep ?? (() => true));
  params.checkCount?.(count, kept.keys(), (name) => c.uncompressed[kept.get(name) ?? -1] ?? 0n);
  await locateAll(file, fileName, c, count, cdOffset);
  const dup = laterDuplicates(c, count);
  for (let i = 0; i < count; i++) {
    if (((c.flags[i] ?? 0) & 1) !== 0) throw invalid(fileName, `"${nameOf(c, i)}" is encrypted`);
    if (dup[i] === 1) throw invalid(fileName, `it holds two records named "${nameOf(c, i)}"`);
  }
  // The entries read their fields from the columns; the directory's bytes are needed no longer.
  const columns: Columns = { ...c, cd: new Uint8Array(0) };
  const entries = new Map<string, ZipEntry>();
  for (const [name, i] of kept) entries.set(name, new Entry(name, columns, i));
  return { entries, count };
}

/** The byte range of a stored record, refusing a compressed one. */
export function storedRange(fileName: string, entry: ZipEntry): { offset: number; length: number } {
  if (entry.method !== 0) {
    throw new TruecastError(
      "ZIP_INVALID",
      `${fileName}: record "${entry.name}" is compressed (method ${entry.method}); only stored records can be read in place. ` +
        "Re-save the checkpoint with torch.save, which stores records uncompressed",
    );
  }
  if (entry.compressedSize !== entry.uncompressedSize) {
    throw invalid(fileName, `stored record "${entry.name}" has compressed size ${entry.compressedSize} ≠ size ${entry.uncompressedSize}`);
  }
  if (entry.compressedSize > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(fileName, `record "${entry.name}" is too large`);
  return { offset: entry.dataOffset, length: Number(entry.compressedSize) };
}
