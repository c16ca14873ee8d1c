/** Builds small zip archives byte by byte for tests: stored records, optional ZIP64 structures everywhere. */

export interface ZipRecord {
  readonly name: string;
  readonly data: Uint8Array;
  /** Compression method written in the headers (the data is not actually compressed). Default 0. */
  readonly method?: number;
  /** General purpose flags. Default 0. */
  readonly flags?: number;
}

export interface BuildZipOptions {
  /** Write sizes and offsets as 0xFFFFFFFF with ZIP64 extra fields, and a ZIP64 end record + locator. */
  readonly zip64?: boolean;
  /** Pad each local header's extra field so record data starts at a multiple of this (as torch does with 64). */
  readonly align?: number;
  readonly comment?: string;
}

const enc = new TextEncoder();

class Bytes {
  private parts: number[] = [];
  get length(): number {
    return this.parts.length;
  }
  u16(v: number): this {
    this.parts.push(v & 0xff, (v >>> 8) & 0xff);
    return this;
  }
  u32(v: number): this {
    for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  u64(v: number | bigint): this {
    let b = BigInt(v);
    for (let i = 0; i < 8; i++) {
      this.parts.push(Number(b & 0xffn));
      b >>= 8n;
    }
    return this;
  }
  bytes(b: Uint8Array): this {
    for (const x of b) this.parts.push(x);
    return this;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export function buildZip(records: readonly ZipRecord[], opts: BuildZipOptions = {}): Uint8Array {
  const out = new Bytes();
  const central = new Bytes();
  const z64 = opts.zip64 === true;
  for (const r of records) {
    const name = enc.encode(r.name);
    const offset = out.length;
    let extra = new Bytes();
    if (z64) extra.u16(1).u16(16).u64(r.data.length).u64(r.data.length);
    if (opts.align !== undefined) {
      const start = offset + 30 + name.length + extra.length + 4;
      const pad = (opts.align - (start % opts.align)) % opts.align;
      extra.u16(0x4246).u16(pad).bytes(new Uint8Array(pad).fill(0x5a));
    }
    const extraBytes = extra.done();
    out.u32(0x04034b50).u16(z64 ? 45 : 20).u16(r.flags ?? 0).u16(r.method ?? 0).u16(0).u16(0).u32(0)
      .u32(z64 ? 0xffffffff : r.data.length).u32(z64 ? 0xffffffff : r.data.length)
      .u16(name.length).u16(extraBytes.length).bytes(name).bytes(extraBytes).bytes(r.data);
    extra = new Bytes();
    if (z64) extra.u16(1).u16(24).u64(r.data.length).u64(r.data.length).u64(offset);
    const cExtra = extra.done();
    central.u32(0x02014b50).u16(z64 ? 45 : 20).u16(z64 ? 45 : 20).u16(r.flags ?? 0).u16(r.method ?? 0).u16(0).u16(0).u32(0)
      .u32(z64 ? 0xffffffff : r.data.length).u32(z64 ? 0xffffffff : r.data.length)
      .u16(name.length).u16(cExtra.length).u16(0).u16(0).u16(0).u32(0).u32(z64 ? 0xffffffff : offset)
      .bytes(name).bytes(cExtra);
  }
  const cdOffset = out.length;
  const cd = central.done();
  out.bytes(cd);
  if (z64) {
    const eocd64 = out.length;
    out.u32(0x06064b50).u64(44).u16(45).u16(45).u32(0).u32(0).u64(records.length).u64(records.length).u64(cd.length).u64(cdOffset);
    out.u32(0x07064b50).u32(0).u64(eocd64).u32(1);
  }
  const comment = enc.encode(opts.comment ?? "");
  out.u32(0x06054b50).u16(0).u16(0)
    .u16(z64 ? 0xffff : records.length).u16(z64 ? 0xffff : records.length)
    .u32(z64 ? 0xffffffff : cd.length).u32(z64 ? 0xffffffff : cdOffset)
    .u16(comment.length).bytes(comment);
  return out.done();
}

/** A torch.save-like archive: `<prefix>/data.pkl`, `<prefix>/data/<key>` for each storage, `version`, optional `byteorder`. */
export function buildTorchZip(params: {
  pickle: Uint8Array;
  storages?: Readonly<Record<string, Uint8Array>>;
  prefix?: string;
  byteorder?: string;
  zip64?: boolean;
}): Uint8Array {
  const prefix = params.prefix ?? "archive";
  const records: ZipRecord[] = [{ name: `${prefix}/data.pkl`, data: params.pickle }];
  if (params.byteorder !== undefined) records.push({ name: `${prefix}/byteorder`, data: enc.encode(params.byteorder) });
  for (const [key, data] of Object.entries(params.storages ?? {})) records.push({ name: `${prefix}/data/${key}`, data });
  records.push({ name: `${prefix}/version`, data: enc.encode("3\n") });
  return buildZip(records, { align: 64, ...(params.zip64 === true ? { zip64: true } : {}) });
}

/** A RandomAccess over bytes in memory. */
export function memoryAccess(bytes: Uint8Array): { size: number; read(position: number, length: number): Promise<Uint8Array> } {
  return {
    size: bytes.length,
    read: async (position, length) => bytes.slice(position, Math.min(bytes.length, position + length)),
  };
}
