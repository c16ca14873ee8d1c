/**
 * The LFS half of the Hub double: the batch call, single PUTs, multipart part PUTs and their completion.
 * Bodies are streamed to temp files while hashed; nothing holds a whole object in memory.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { Transform } from "node:stream";
import type { DoubleContext } from "./hub-double.js";

interface MultipartUpload {
  size: number;
  chunkSize: number;
  parts: Map<number, { path: string; etag: string; size: number }>;
}

const OID_RE = /^[0-9a-f]{64}$/;

/** Stream the request body to `path`, returning the bytes received and their sha256. */
async function receive(ctx: DoubleContext, path: string): Promise<{ received: number; sha256: string }> {
  const hash = createHash("sha256");
  let received = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      received += chunk.length;
      ctx.entry.bytesReceived += chunk.length;
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(ctx.req, counter, createWriteStream(path));
  return { received, sha256: hash.digest("hex") };
}

export class DoubleLfs {
  private readonly uploads = new Map<string, MultipartUpload>();

  constructor(private readonly opts: { multipartThreshold: number; partSize: number }) {}

  /** POST /{repo}.git/info/lfs/objects/batch */
  async batch(ctx: DoubleContext, repoId: string): Promise<void> {
    const body = (await ctx.json()) as { operation?: string; transfers?: string[]; objects?: Array<{ oid: string; size: number }> };
    if (body.operation !== "upload" || !Array.isArray(body.objects)) return ctx.send(422, { message: "bad batch request" });
    const objects = body.objects.map(({ oid, size }) => {
      if (!OID_RE.test(oid) || !Number.isSafeInteger(size) || size < 0) return { oid, size, error: { code: 422, message: "invalid object" } };
      if (ctx.store.objects.get(oid) === size) return { oid, size };
      const base = ctx.storageOrigin;
      if (size > this.opts.multipartThreshold && body.transfers?.includes("multipart")) {
        const parts = Math.ceil(size / this.opts.partSize);
        const header: Record<string, string> = { chunk_size: String(this.opts.partSize) };
        for (let i = 1; i <= parts; i++) header[String(i).padStart(5, "0")] = `${base}/lfs/part/${oid}/${i}`;
        this.uploads.set(oid, { size, chunkSize: this.opts.partSize, parts: new Map() });
        return { oid, size, actions: { upload: { href: `${base}/lfs/complete/${oid}`, header } } };
      }
      return { oid, size, actions: { upload: { href: `${base}/lfs/put/${oid}?size=${size}&repo=${encodeURIComponent(repoId)}` } } };
    });
    ctx.send(200, { transfer: "basic", objects }, "application/vnd.git-lfs+json");
  }

  /** PUT /lfs/put/{oid}?size=N */
  async put(ctx: DoubleContext, oid: string): Promise<void> {
    const size = Number(ctx.url.searchParams.get("size"));
    const declared = Number(ctx.req.headers["content-length"] ?? NaN);
    if (!OID_RE.test(oid) || declared !== size) return ctx.send(400, { message: `Content-Length ${declared} is not the object size ${size}` });
    const temp = ctx.store.tempPath();
    const { received, sha256 } = await receive(ctx, temp);
    if (!(await ctx.store.admit(temp, oid, size, sha256, received))) return ctx.send(400, { message: "sha256 or size mismatch" });
    ctx.send(200, {});
  }

  /** PUT /lfs/part/{oid}/{n} */
  async part(ctx: DoubleContext, oid: string, n: number): Promise<void> {
    const upload = this.uploads.get(oid);
    if (!upload) return ctx.send(404, { message: "no such multipart upload" });
    const expected = Math.min(upload.chunkSize, upload.size - (n - 1) * upload.chunkSize);
    if (!(n >= 1 && expected > 0)) return ctx.send(400, { message: "bad part number" });
    const temp = ctx.store.tempPath();
    const { received, sha256 } = await receive(ctx, temp);
    if (received !== expected) {
      await rm(temp, { force: true });
      return ctx.send(400, { message: `part ${n} has ${received} bytes, expected ${expected}` });
    }
    const old = upload.parts.get(n);
    if (old) await rm(old.path, { force: true });
    const etag = `"${sha256.slice(0, 32)}"`;
    upload.parts.set(n, { path: temp, etag, size: received });
    ctx.res.setHeader("ETag", etag);
    ctx.send(200, {});
  }

  /** POST /lfs/complete/{oid} */
  async complete(ctx: DoubleContext, oid: string): Promise<void> {
    const upload = this.uploads.get(oid);
    const body = (await ctx.json()) as { oid?: string; parts?: Array<{ partNumber: number; etag: string }> };
    if (!upload || body.oid !== oid || !Array.isArray(body.parts)) return ctx.send(400, { message: "bad completion" });
    const count = Math.ceil(upload.size / upload.chunkSize);
    const parts = [...body.parts].sort((a, b) => a.partNumber - b.partNumber);
    if (parts.length !== count || parts.some((p, i) => p.partNumber !== i + 1 || upload.parts.get(i + 1)?.etag !== p.etag)) {
      return ctx.send(400, { message: "parts missing or etags wrong" });
    }
    const temp = ctx.store.tempPath();
    const hash = createHash("sha256");
    let received = 0;
    const out = createWriteStream(temp);
    for (let i = 1; i <= count; i++) {
      const part = upload.parts.get(i);
      if (!part) return ctx.send(400, { message: `part ${i} missing` });
      for await (const chunk of createReadStream(part.path)) {
        const b = chunk as Buffer;
        hash.update(b);
        received += b.length;
        if (!out.write(b)) await new Promise<void>((r) => out.once("drain", () => r()));
      }
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    for (const part of upload.parts.values()) await rm(part.path, { force: true });
    this.uploads.delete(oid);
    if (!(await ctx.store.admit(temp, oid, upload.size, hash.digest("hex"), received))) return ctx.send(400, { message: "sha256 or size mismatch" });
    ctx.send(200, {});
  }
}
