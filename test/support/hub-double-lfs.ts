/**
 * The LFS half of the Hub double: the batch call, single PUTs, multipart part PUTs and their completion.
 * Bodies are streamed to disk; nothing holds a whole object in memory.
 *
 * Per byte, a single PUT costs the double one sha256 and one write, and a multipart upload as little more as
 * an out-of-order upload allows (the publish benchmark compares the two): each part is written in place into one
 * file for the object, and the object's sha256 is computed from that file as the parts before it complete, so
 * the only extra is reading the bytes back from the page cache; nothing is copied into a second file.
 */
import { createHash, type Hash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { open, rm } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { Transform } from "node:stream";
import type { DoubleContext } from "./hub-double.js";
import type { DoubleSink } from "./hub-double-sink.js";

interface MultipartUpload {
  size: number;
  chunkSize: number;
  /** The object's bytes, each part written at its offset. */
  path: string;
  /** Created once, at the first part. */
  created: Promise<void> | null;
  /** Parts completely received: number → etag. */
  parts: Map<number, string>;
  /** sha256 of parts 1..hashedParts, read back from `path` in order as they complete. */
  hash: Hash;
  hashedParts: number;
  /** Bumped when a part already hashed is received again: the hash restarts from part 1. */
  generation: number;
  /** The hashing in progress; complete() waits for it. */
  hashing: Promise<void>;
  /** Why reading the parts back failed, if it did. */
  hashError: string | null;
}

const OID_RE = /^[0-9a-f]{64}$/;

/** Bytes read at once when hashing parts back from disk (one buffer per pass, reused). */
const HASH_READ_BYTES = 1024 * 1024;

/**
 * A stream stage that counts the bytes received and passes them on, up to `limit` of them: a part with too many
 * bytes must not spill into the next part's place in the object file (the caller rejects it by its count).
 */
function counter(ctx: DoubleContext, onBytes: (chunk: Buffer) => void, limit = Infinity): Transform & { received: number } {
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      const room = Math.max(0, limit - t.received);
      t.received += chunk.length;
      ctx.entry.bytesReceived += chunk.length;
      const keep = chunk.length <= room ? chunk : chunk.subarray(0, room);
      onBytes(keep);
      done(null, keep.length > 0 ? keep : undefined);
    },
  }) as Transform & { received: number };
  t.received = 0;
  return t;
}

/** Stream the request body to `path`, returning the bytes received and their sha256. */
async function receive(ctx: DoubleContext, path: string): Promise<{ received: number; sha256: string }> {
  const hash = createHash("sha256");
  const count = counter(ctx, (chunk) => hash.update(chunk));
  await pipeline(ctx.req, count, createWriteStream(path));
  return { received: count.received, sha256: hash.digest("hex") };
}

/** Hash the parts that follow the ones already hashed, in order, for as long as they are complete. */
async function hashCompleteParts(upload: MultipartUpload): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>> | null = null;
  const buf = Buffer.allocUnsafe(HASH_READ_BYTES);
  try {
    for (;;) {
      // One consistent snapshot (no await in between): a part received again while the file opens must not
      // pair this part with a hash that has started over.
      const n = upload.hashedParts + 1;
      if (!upload.parts.has(n)) return;
      const generation = upload.generation;
      const etag = upload.parts.get(n);
      const end = Math.min(upload.size, n * upload.chunkSize);
      const partHash = upload.hash.copy();
      fh ??= await open(upload.path, "r");
      for (let pos = (n - 1) * upload.chunkSize; pos < end; ) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
        if (bytesRead === 0) throw new Error(`part ${n} is shorter on disk than received`);
        partHash.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
      // The part was received again meanwhile (another etag, or none while it arrives): what was read may be
      // mixed, so it is read again once complete; a restart (generation) begins again from part 1.
      if (generation !== upload.generation || upload.parts.get(n) !== etag) continue;
      upload.hash = partHash;
      upload.hashedParts = n;
    }
  } finally {
    await fh?.close();
  }
}

export class DoubleLfs {
  private readonly uploads = new Map<string, MultipartUpload>();
  /** Makes every part's ETag unique, so a completion naming an earlier reception of a part is refused. */
  private partSeq = 0;

  constructor(private readonly opts: { multipartThreshold: number; partSize: number; verifyAction: boolean; sink: DoubleSink | null }) {}

  /** POST /{repo}.git/info/lfs/objects/batch */
  async batch(ctx: DoubleContext, repoId: string): Promise<void> {
    // The media types, operation and hash algorithm git-lfs and the official clients use ("sha256" is git-lfs's
    // default and the Python client's spelling, "sha_256" the JS client's); anything else is refused.
    const type = ctx.req.headers["content-type"] ?? "";
    if (!type.startsWith("application/vnd.git-lfs+json") || !(ctx.req.headers.accept ?? "").includes("application/vnd.git-lfs+json")) {
      return ctx.send(406, { message: "batch requests are application/vnd.git-lfs+json" });
    }
    const body = (await ctx.json()) as { operation?: string; transfers?: string[]; hash_algo?: string; objects?: Array<{ oid: string; size: number }> } | null;
    if (body?.operation !== "upload" || !Array.isArray(body.objects) || !body.transfers?.includes("basic") || !["sha256", "sha_256"].includes(body.hash_algo ?? "sha256")) {
      return ctx.send(422, { message: "bad batch request" });
    }
    const objects = [];
    for (const { oid, size } of body.objects) {
      if (!OID_RE.test(oid) || !Number.isSafeInteger(size) || size < 0) {
        objects.push({ oid, size, error: { code: 422, message: "invalid object" } });
        continue;
      }
      if (ctx.store.objects.get(oid) === size) {
        objects.push({ oid, size });
        continue;
      }
      const base = ctx.storageOrigin;
      const verify = this.opts.verifyAction ? { verify: { href: `${ctx.hubOrigin}/${repoId}.git/info/lfs/objects/verify` } } : {};
      if (size > this.opts.multipartThreshold && body.transfers?.includes("multipart")) {
        const parts = Math.ceil(size / this.opts.partSize);
        const header: Record<string, string> = { chunk_size: String(this.opts.partSize) };
        for (let i = 1; i <= parts; i++) header[String(i).padStart(5, "0")] = `${base}/lfs/part/${oid}/${i}`;
        const old = this.uploads.get(oid);
        if (old) await rm(old.path, { force: true });
        if (this.opts.sink) this.opts.sink.begin(oid, size, this.opts.partSize);
        else this.uploads.set(oid, {
          size, chunkSize: this.opts.partSize, path: ctx.store.tempPath(), created: null, parts: new Map(),
          hash: createHash("sha256"), hashedParts: 0, generation: 0, hashing: Promise.resolve(), hashError: null,
        });
        objects.push({ oid, size, actions: { upload: { href: `${base}/lfs/complete/${oid}`, header }, ...verify } });
        continue;
      }
      objects.push({ oid, size, actions: { upload: { href: `${base}/lfs/put/${oid}?size=${size}&repo=${encodeURIComponent(repoId)}` }, ...verify } });
    }
    ctx.send(200, { transfer: "basic", objects }, "application/vnd.git-lfs+json");
  }

  /** PUT /lfs/put/{oid}?size=N */
  async put(ctx: DoubleContext, oid: string): Promise<void> {
    const size = Number(ctx.url.searchParams.get("size"));
    const declared = Number(ctx.req.headers["content-length"] ?? NaN);
    if (!OID_RE.test(oid) || declared !== size) return ctx.send(400, { message: `Content-Length ${declared} is not the object size ${size}` });
    if (this.opts.sink) return this.opts.sink.put(ctx, oid, size);
    const temp = ctx.store.tempPath();
    const { received, sha256 } = await receive(ctx, temp);
    if (!(await ctx.store.admit(temp, oid, size, sha256, received))) return ctx.send(400, { message: "sha256 or size mismatch" });
    ctx.send(200, {});
  }

  /** PUT /lfs/part/{oid}/{n}: written in place into the object's file. */
  async part(ctx: DoubleContext, oid: string, n: number): Promise<void> {
    if (this.opts.sink) return this.opts.sink.part(ctx, oid, n);
    const upload = this.uploads.get(oid);
    if (!upload) return ctx.send(404, { message: "no such multipart upload" });
    const expected = Math.min(upload.chunkSize, upload.size - (n - 1) * upload.chunkSize);
    if (!(Number.isSafeInteger(n) && n >= 1 && expected > 0)) return ctx.send(400, { message: "bad part number" });
    // Presigned S3 part URLs need the length up front: a chunked body is refused, as there.
    if (Number(ctx.req.headers["content-length"] ?? NaN) !== expected) return ctx.send(411, { message: `part ${n} needs Content-Length ${expected}` });
    // Received again (a retry): no longer complete while it arrives; if already hashed, the hash starts over.
    upload.parts.delete(n);
    if (n <= upload.hashedParts) {
      upload.generation++;
      upload.hash = createHash("sha256");
      upload.hashedParts = 0;
    }
    upload.created ??= open(upload.path, "a").then((h) => h.close());
    await upload.created;
    const count = counter(ctx, () => undefined, expected);
    await pipeline(ctx.req, count, createWriteStream(upload.path, { flags: "r+", start: (n - 1) * upload.chunkSize }));
    if (count.received !== expected) return ctx.send(400, { message: `part ${n} has ${count.received} bytes, expected ${expected}` });
    const etag = `"part-${n}-${++this.partSeq}"`;
    upload.parts.set(n, etag);
    this.hashParts(upload);
    ctx.res.setHeader("ETag", etag);
    ctx.send(200, {});
  }

  /** Queue hashing of the parts now complete behind the hashing already queued; never rejects. */
  private hashParts(upload: MultipartUpload): Promise<void> {
    upload.hashing = upload.hashing.then(() =>
      hashCompleteParts(upload).catch((e: unknown) => {
        upload.hashError = (e as NodeJS.ErrnoException).code ?? String(e);
      }),
    );
    return upload.hashing;
  }

  /** POST /{repo}.git/info/lfs/objects/verify on the Hub: 200 when the object is stored with that size. */
  async verify(ctx: DoubleContext): Promise<void> {
    const body = (await ctx.json()) as { oid?: unknown; size?: unknown } | null;
    const stored = typeof body?.oid === "string" ? ctx.store.objects.get(body.oid) : undefined;
    if (stored === undefined || stored !== body?.size) return ctx.send(404, { message: "object not stored" });
    ctx.send(200, {}, "application/vnd.git-lfs+json");
  }

  /** POST /lfs/complete/{oid} */
  async complete(ctx: DoubleContext, oid: string): Promise<void> {
    if (this.opts.sink) return this.opts.sink.complete(ctx, oid);
    const upload = this.uploads.get(oid);
    const body = (await ctx.json()) as { oid?: string; parts?: Array<{ partNumber: number; etag: string }> };
    if (!upload || body.oid !== oid || !Array.isArray(body.parts)) return ctx.send(400, { message: "bad completion" });
    const count = Math.ceil(upload.size / upload.chunkSize);
    const parts = [...body.parts].sort((a, b) => a.partNumber - b.partNumber);
    if (parts.length !== count || parts.some((p, i) => p.partNumber !== i + 1 || upload.parts.get(i + 1) !== p.etag)) {
      return ctx.send(400, { message: "parts missing or etags wrong" });
    }
    await this.hashParts(upload);
    if (upload.hashError !== null) return ctx.send(500, { message: `reading the parts back failed: ${upload.hashError}` });
    if (upload.hashedParts !== count) return ctx.send(400, { message: "parts changed while completing" });
    this.uploads.delete(oid);
    await upload.created;
    if (!(await ctx.store.admit(upload.path, oid, upload.size, upload.hash.digest("hex"), upload.size))) return ctx.send(400, { message: "sha256 or size mismatch" });
    ctx.send(200, {});
  }
}
