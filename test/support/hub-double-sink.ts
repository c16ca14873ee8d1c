/**
 * The LFS uploads of a sink double (HubDoubleOptions.sink): each object's bytes are hashed (sha256) as they
 * arrive and dropped; only its first `keepBytes` are kept, so that the client's post-commit check can read the
 * safetensors headers back. Memory per upload: the kept head, plus, for a multipart upload, the parts that arrive
 * before the ones in front of them (at most the client's parts in flight), held until they can be hashed in order.
 * An object is admitted, as by the disk double, only when its size and sha256 are the oid's; each completed upload
 * is recorded in `received` with the digest the sink computed.
 */
import { createHash, type Hash } from "node:crypto";
import type { DoubleContext } from "./hub-double.js";

export interface SinkReceived {
  /** The oid the client named. */
  oid: string;
  /** The sha256 of the bytes received, computed by the sink. */
  sha256: string;
  bytes: number;
}

interface SinkUpload {
  size: number;
  chunkSize: number;
  hash: Hash;
  /** Bytes hashed so far (parts 1..hashedParts), and the first `keepBytes` of them. */
  hashed: number;
  hashedParts: number;
  head: Uint8Array;
  /** Parts received whole but not yet hashed (a part before them is still arriving). */
  waiting: Map<number, Buffer>;
  /** Every part number received, with its etag. */
  etags: Map<number, string>;
}

function newUpload(size: number, chunkSize: number, keepBytes: number): SinkUpload {
  return { size, chunkSize, hash: createHash("sha256"), hashed: 0, hashedParts: 0, head: new Uint8Array(Math.min(size, keepBytes)), waiting: new Map(), etags: new Map() };
}

function take(u: SinkUpload, chunk: Uint8Array): void {
  u.hash.update(chunk);
  if (u.hashed < u.head.byteLength) u.head.set(chunk.subarray(0, u.head.byteLength - u.hashed), u.hashed);
  u.hashed += chunk.byteLength;
}

export class DoubleSink {
  private readonly uploads = new Map<string, SinkUpload>();
  private seq = 0;
  readonly received: SinkReceived[] = [];

  constructor(private readonly keepBytes: number) {}

  /** A multipart upload announced by the batch call. */
  begin(oid: string, size: number, chunkSize: number): void {
    this.uploads.set(oid, newUpload(size, chunkSize, this.keepBytes));
  }

  private admit(ctx: DoubleContext, oid: string, u: SinkUpload): boolean {
    const sha256 = u.hash.digest("hex");
    this.received.push({ oid, sha256, bytes: u.hashed });
    if (sha256 !== oid || u.hashed !== u.size) return false;
    ctx.store.objects.set(oid, u.size);
    ctx.store.heads.set(oid, u.head);
    return true;
  }

  /** PUT /lfs/put/{oid}?size=N */
  async put(ctx: DoubleContext, oid: string, size: number): Promise<void> {
    const u = newUpload(size, size, this.keepBytes);
    for await (const c of ctx.req) {
      ctx.entry.bytesReceived += (c as Buffer).length;
      take(u, c as Buffer);
    }
    if (!this.admit(ctx, oid, u)) return ctx.send(400, { message: "sha256 or size mismatch" });
    ctx.send(200, {});
  }

  /** PUT /lfs/part/{oid}/{n} */
  async part(ctx: DoubleContext, oid: string, n: number): Promise<void> {
    const u = this.uploads.get(oid);
    if (!u) return ctx.send(404, { message: "no such multipart upload" });
    const expected = Math.min(u.chunkSize, u.size - (n - 1) * u.chunkSize);
    if (!(Number.isSafeInteger(n) && n >= 1 && expected > 0)) return ctx.send(400, { message: "bad part number" });
    // The bytes of a part already hashed are gone: a retry of one cannot be taken (the benchmark's runs have none).
    if (n <= u.hashedParts || u.waiting.has(n)) return ctx.send(409, { message: `sink double: part ${n} was already received and cannot be taken again` });
    const chunks: Buffer[] = [];
    let got = 0;
    for await (const c of ctx.req) {
      ctx.entry.bytesReceived += (c as Buffer).length;
      got += (c as Buffer).length;
      if (got <= expected) chunks.push(c as Buffer);
    }
    if (got !== expected) return ctx.send(400, { message: `part ${n} has ${got} bytes, expected ${expected}` });
    u.waiting.set(n, Buffer.concat(chunks));
    for (let next = u.waiting.get(u.hashedParts + 1); next; next = u.waiting.get(u.hashedParts + 1)) {
      u.waiting.delete(u.hashedParts + 1);
      take(u, next);
      u.hashedParts++;
    }
    const etag = `"sink-${n}-${++this.seq}"`;
    u.etags.set(n, etag);
    ctx.res.setHeader("ETag", etag);
    ctx.send(200, {});
  }

  /** POST /lfs/complete/{oid} */
  async complete(ctx: DoubleContext, oid: string): Promise<void> {
    const u = this.uploads.get(oid);
    const body = (await ctx.json()) as { oid?: string; parts?: Array<{ partNumber: number; etag: string }> };
    if (!u || body.oid !== oid || !Array.isArray(body.parts)) return ctx.send(400, { message: "bad completion" });
    const count = Math.ceil(u.size / u.chunkSize);
    const parts = [...body.parts].sort((a, b) => a.partNumber - b.partNumber);
    if (parts.length !== count || u.hashedParts !== count || parts.some((p, i) => p.partNumber !== i + 1 || u.etags.get(i + 1) !== p.etag)) {
      return ctx.send(400, { message: "parts missing or etags wrong" });
    }
    this.uploads.delete(oid);
    if (!this.admit(ctx, oid, u)) return ctx.send(400, { message: "sha256 or size mismatch" });
    ctx.send(200, {});
  }
}
