/**
 * The zip container of `torch.save` (PyTorch's PyTorchStreamWriter over miniz, as torch 1.13 writes it), laid out
 * as a table of segments so that a 10 GB shard is never held: the headers, the pickle and the small records are
 * materialised, each storage's data is a range of the caller's generated stream. Per record: a local header with
 * flags 0x0808 (UTF-8 names, a data descriptor follows the data) and zero CRC and sizes; an extra field of a ZIP64
 * block when the record is ≥ 4 GiB or starts at ≥ 4 GiB, then torch's "FB" padding so that the data starts at a
 * multiple of 64; the data; the data descriptor (64-bit sizes when there is a ZIP64 block). Then the central
 * directory (true CRC-32 and sizes, ZIP64 fields where a value does not fit), the ZIP64 end record and locator
 * (always written by torch), and the end record.
 */
import { crc32 } from "node:zlib";

/** A record's bytes: given, or `length` bytes of the caller's stream from `from`, whose CRC-32 the caller supplies. */
export type ZipRecordData = { bytes: Uint8Array } | { from: number; length: number; crc32: number };

export interface TorchZipRecord {
  name: string;
  data: ZipRecordData;
}

/** Bytes [at, at + length) of the file: materialised, or the stream's bytes [from, from + length). */
export type Segment = { at: number; length: number; bytes: Uint8Array } | { at: number; length: number; from: number };

const ALIGN = 64;
const U32_MAX = 0xffffffff;
const enc = new TextEncoder();

class Out {
  readonly segments: Segment[] = [];
  private pending: number[] = [];
  private pendingAt = 0;
  size = 0;

  u16(v: number): this {
    this.pending.push(v & 0xff, (v >>> 8) & 0xff);
    this.size += 2;
    return this;
  }
  u32(v: number): this {
    for (let i = 0; i < 4; i++) this.pending.push(Math.floor(v / 2 ** (8 * i)) & 0xff);
    this.size += 4;
    return this;
  }
  u64(v: number): this {
    return this.u32(v % 2 ** 32).u32(Math.floor(v / 2 ** 32));
  }
  bytes(b: Uint8Array): this {
    for (const x of b) this.pending.push(x);
    this.size += b.byteLength;
    return this;
  }
  private flush(): void {
    if (this.pending.length > 0) this.segments.push({ at: this.pendingAt, length: this.pending.length, bytes: Uint8Array.from(this.pending) });
    this.pending = [];
    this.pendingAt = this.size;
  }
  stream(from: number, length: number): this {
    this.flush();
    if (length > 0) this.segments.push({ at: this.size, length, from });
    this.size += length;
    this.pendingAt = this.size;
    return this;
  }
  done(): Segment[] {
    this.flush();
    return this.segments;
  }
}

/** The ZIP64 extended information field with the given values (an empty array: no field). */
function zip64Extra(values: number[]): number[] {
  if (values.length === 0) return [];
  const o = new Out();
  o.u16(1).u16(8 * values.length);
  for (const v of values) o.u64(v);
  return [...(o.done()[0] as { bytes: Uint8Array }).bytes];
}

/** Lays out `records` in order as torch.save does; `prefix` is the archive's folder (torch: the file name's stem). */
export function layoutTorchZip(prefix: string, records: readonly TorchZipRecord[]): { segments: Segment[]; size: number } {
  const out = new Out();
  const central: Array<{ name: Uint8Array; offset: number; size: number; crc: number }> = [];
  for (const r of records) {
    const name = enc.encode(`${prefix}/${r.name}`);
    const size = "bytes" in r.data ? r.data.bytes.byteLength : r.data.length;
    const crc = "bytes" in r.data ? crc32(r.data.bytes) : r.data.crc32;
    const offset = out.size;
    const big = size >= U32_MAX;
    const far = offset >= U32_MAX;
    // Local ZIP64 block: the size and the compressed size (still 0 when miniz writes the header) if big, the offset if far.
    const z64 = zip64Extra([...(big ? [size, 0] : []), ...(far ? [offset] : [])]);
    const start = offset + 30 + name.byteLength + z64.length + 4;
    const pad = (ALIGN - (start % ALIGN)) % ALIGN;
    out.u32(0x04034b50).u16(0).u16(0x0808).u16(0).u16(0).u16(0).u32(0).u32(0).u32(0).u16(name.byteLength).u16(z64.length + 4 + pad);
    out.bytes(name).bytes(Uint8Array.from(z64)).bytes(enc.encode("FB")).u16(pad).bytes(new Uint8Array(pad).fill(0x5a));
    if ("bytes" in r.data) out.bytes(r.data.bytes);
    else out.stream(r.data.from, r.data.length);
    out.u32(0x08074b50).u32(crc);
    if (z64.length > 0) out.u64(size).u64(size);
    else out.u32(size).u32(size);
    central.push({ name, offset, size, crc });
  }
  const cdOffset = out.size;
  for (const c of central) {
    const big = c.size >= U32_MAX;
    const z64 = zip64Extra([...(big ? [c.size, c.size] : []), ...(c.offset >= U32_MAX ? [c.offset] : [])]);
    out.u32(0x02014b50).u16(0).u16(0).u16(0x0808).u16(0).u16(0).u16(0).u32(c.crc)
      .u32(big ? U32_MAX : c.size).u32(big ? U32_MAX : c.size)
      .u16(c.name.byteLength).u16(z64.length).u16(0).u16(0).u16(0).u32(0)
      .u32(Math.min(c.offset, U32_MAX)).bytes(c.name).bytes(Uint8Array.from(z64));
  }
  const cdSize = out.size - cdOffset;
  const eocd64 = out.size;
  const n = central.length;
  out.u32(0x06064b50).u64(44).u16(0x031e).u16(45).u32(0).u32(0).u64(n).u64(n).u64(cdSize).u64(cdOffset);
  out.u32(0x07064b50).u32(0).u64(eocd64).u32(1);
  out.u32(0x06054b50).u16(0).u16(0).u16(Math.min(n, 0xffff)).u16(Math.min(n, 0xffff))
    .u32(Math.min(cdSize, U32_MAX)).u32(Math.min(cdOffset, U32_MAX)).u16(0);
  return { segments: out.done(), size: out.size };
}
