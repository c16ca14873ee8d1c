/**
 * truecast's own LFS uploads (lfs-upload.ts through upload-session.ts) against the Hub double: multipart parts and
 * their completion, resume without re-sending stored objects, the verify action, where the token goes, and the
 * answers from the Hub that are refused.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { PublishEvent } from "../../src/hub/events.js";
import { createUploadSession, type UploadSessionParams } from "../../src/hub/upload-session.js";
import { TruecastError } from "../../src/errors.js";
import { startHubDouble, type HubDouble, type HubDoubleOptions } from "../support/hub-double.js";
import { tempDir } from "../helpers.js";

const SECRET = "hf_LFSsecretToken0123456789";
const MiB = 1024 * 1024;
/** Small parts, so a few MiB make a multipart upload of several parts. */
const DOUBLE: HubDoubleOptions = { tokens: { [SECRET]: { user: "acme", write: true } }, multipartThreshold: MiB, partSize: MiB };

interface Seen {
  method: string;
  url: URL;
  body: string | null;
  status: number;
  etag: string | null;
}

/** A fetch that records what hub-fetch sends (string bodies only) and what comes back. */
function recordingFetch(seen: Seen[], rewrite?: (url: URL, res: Response) => Promise<Response>): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(String(input));
    let res = await fetch(input, init);
    if (rewrite) res = await rewrite(url, res);
    seen.push({ method: init.method ?? "GET", url, body: typeof init.body === "string" ? init.body : null, status: res.status, etag: res.headers.get("etag") });
    return res;
  }) as typeof fetch;
}

function bytesOf(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 13 + seed * 101 + (i >> 12)) & 0xff;
  return b;
}

async function withDouble(opts: HubDoubleOptions, fn: (d: HubDouble, dir: string) => Promise<void>): Promise<void> {
  const d = await startHubDouble(opts);
  const t = await tempDir();
  try {
    await fn(d, t.dir);
  } finally {
    await d.stop();
    await t.cleanup();
  }
}

function session(d: HubDouble, extra: Partial<UploadSessionParams> = {}) {
  return createUploadSession({ repoId: "acme/lfs", token: SECRET, endpoint: d.url, sleep: async () => undefined, ...extra });
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

test("multipart: each part PUT once, the completion lists every part number with its ETag, the object is the file", async () => {
  await withDouble(DOUBLE, async (d, dir) => {
    const bytes = bytesOf(3.5 * MiB, 1);
    const path = join(dir, "model.safetensors");
    await writeFile(path, bytes);
    const seen: Seen[] = [];
    const s = await session(d, { fetch: recordingFetch(seen) });
    const u = await s.uploadFile(path, "model.safetensors");
    assert.deepEqual({ oid: u.oid, lfs: u.lfs, sent: u.sent, size: u.size }, { oid: sha(bytes), lfs: true, sent: true, size: bytes.length });
    assert.equal(s.bytesSent(), bytes.length);
    const parts = seen.filter((r) => r.method === "PUT");
    assert.deepEqual(parts.map((r) => r.url.pathname).sort(), [1, 2, 3, 4].map((n) => `/lfs/part/${u.oid}/${n}`));
    const completion = seen.filter((r) => r.method === "POST" && r.url.pathname === `/lfs/complete/${u.oid}`);
    assert.equal(completion.length, 1);
    assert.equal(completion[0]?.status, 200);
    const etagOf = (n: number) => parts.find((r) => r.url.pathname.endsWith(`/${n}`))?.etag;
    assert.deepEqual(JSON.parse(completion[0]?.body ?? "null"), { oid: u.oid, parts: [1, 2, 3, 4].map((n) => ({ partNumber: n, etag: etagOf(n) })) });
    assert.equal(d.state.objects.get(u.oid), bytes.length);
  });
});

test("a resumed upload sends no bytes for objects the Hub stores, and reports them as already stored", async () => {
  await withDouble(DOUBLE, async (d, dir) => {
    const files = [bytesOf(2.5 * MiB, 2), bytesOf(0.5 * MiB, 3)];
    const names = ["a.safetensors", "b.safetensors"];
    for (const [i, b] of files.entries()) await writeFile(join(dir, names[i] ?? ""), b);
    const first = await session(d, { retry: { maxAttempts: 1 } });
    await first.uploadFile(join(dir, "a.safetensors"), "a.safetensors");
    d.faults.add({ match: (r) => r.method === "PUT", kind: "drop", dropAfterBytes: 64 * 1024 });
    await assert.rejects(first.uploadFile(join(dir, "b.safetensors"), "b.safetensors"), (e: unknown) => e instanceof TruecastError && e.code === "HUB_NETWORK");

    const before = d.requests.length;
    const events: PublishEvent[] = [];
    const again = await session(d, { onProgress: (e) => events.push(e) });
    const ua = await again.uploadFile(join(dir, "a.safetensors"), "a.safetensors");
    const ub = await again.uploadFile(join(dir, "b.safetensors"), "b.safetensors");
    assert.deepEqual([ua.sent, ub.sent], [false, true]);
    const storage = d.requests.slice(before).filter((r) => r.server === "storage");
    assert.ok(storage.every((r) => !r.path.includes(ua.oid)), "nothing sent for the stored object");
    assert.equal(storage.reduce((s, r) => s + r.bytesReceived, 0), files[1]?.length);
    assert.equal(again.bytesSent(), files[1]?.length);
    const states = (p: string) => events.filter((e): e is Extract<PublishEvent, { type: "file" }> => e.type === "file" && e.path === p).map((e) => e.state).at(-1);
    assert.deepEqual([states("a.safetensors"), states("b.safetensors")], ["already-stored", "uploaded"]);
  });
});

test("the token reaches the endpoint's origin only: never a part, completion or basic PUT on the storage host; verify is honoured", async () => {
  // Files over 2 MiB go multipart, smaller LFS files as one PUT; every upload also gets a verify action.
  await withDouble({ ...DOUBLE, multipartThreshold: 2 * MiB, verifyAction: true }, async (d, dir) => {
    const big = bytesOf(2.5 * MiB, 4);
    const small = bytesOf(0.25 * MiB, 5);
    await writeFile(join(dir, "big.safetensors"), big);
    await writeFile(join(dir, "small.safetensors"), small);
    const s = await session(d);
    const ub = await s.uploadFile(join(dir, "big.safetensors"), "big.safetensors");
    const us = await s.uploadFile(join(dir, "small.safetensors"), "small.safetensors");
    const storage = d.requests.filter((r) => r.server === "storage");
    assert.equal(storage.filter((r) => r.path.startsWith(`/lfs/part/${ub.oid}/`)).length, 3);
    assert.equal(storage.filter((r) => r.path === `/lfs/complete/${ub.oid}`).length, 1);
    assert.equal(storage.filter((r) => r.path.startsWith(`/lfs/put/${us.oid}`)).length, 1);
    assert.ok(storage.every((r) => r.headers.authorization === undefined), "no Authorization on the storage host");
    assert.ok(!JSON.stringify(d.requests).includes(SECRET));
    const hub = d.requests.filter((r) => r.server === "hub");
    assert.ok(hub.every((r) => r.headers.authorization === "<present>"));
    const verified = hub.filter((r) => r.path === "/acme/lfs.git/info/lfs/objects/verify");
    assert.deepEqual(verified.map((r) => r.status), [200, 200], "one verify per uploaded object, after it is stored");
  });
});

test("a batch answer with too few part URLs, or a part answered without an ETag, is HUB_SERVER naming the file", async () => {
  await withDouble(DOUBLE, async (d, dir) => {
    await writeFile(join(dir, "m.safetensors"), bytesOf(2.5 * MiB, 6));
    const dropPart = async (url: URL, res: Response) => {
      if (!url.pathname.endsWith("/objects/batch")) return res;
      const json = (await res.json()) as { objects: Array<{ actions?: { upload: { header: Record<string, string> } } }> };
      delete json.objects[0]?.actions?.upload.header["00003"];
      return new Response(JSON.stringify(json), { status: res.status, headers: res.headers });
    };
    const a = await session(d, { fetch: recordingFetch([], dropPart) });
    await assert.rejects(a.uploadFile(join(dir, "m.safetensors"), "m.safetensors"), (e: unknown) => e instanceof TruecastError && e.code === "HUB_SERVER" && /m\.safetensors has 2 part URLs for a \d+-byte file in parts of 1048576 bytes/.test(e.message));
    assert.equal(d.requests.filter((r) => r.method === "PUT").length, 0, "nothing sent on a bad answer");

    const noEtag = async (url: URL, res: Response) => {
      if (!url.pathname.startsWith("/lfs/part/")) return res;
      const headers = new Headers(res.headers);
      headers.delete("etag");
      return new Response(await res.arrayBuffer(), { status: res.status, headers });
    };
    const b = await session(d, { fetch: recordingFetch([], noEtag) });
    await assert.rejects(b.uploadFile(join(dir, "m.safetensors"), "m.safetensors"), (e: unknown) => e instanceof TruecastError && e.code === "HUB_SERVER" && /part \d of m\.safetensors without an ETag/.test(e.message));
    assert.equal(d.requests.filter((r) => r.path.startsWith("/lfs/complete/")).length, 0, "no completion without every ETag");
  });
});

test("an object error in the batch answer is mapped like an HTTP status (403 → HUB_FORBIDDEN)", async () => {
  await withDouble(DOUBLE, async (d, dir) => {
    await writeFile(join(dir, "m.safetensors"), bytesOf(1000, 7));
    const refuse = async (url: URL, res: Response) => {
      if (!url.pathname.endsWith("/objects/batch")) return res;
      const json = (await res.json()) as { objects: Array<Record<string, unknown>> };
      const o = json.objects[0] ?? {};
      return new Response(JSON.stringify({ objects: [{ oid: o.oid, size: o.size, error: { code: 403, message: "storage quota exceeded" } }] }), { status: 200 });
    };
    const s = await session(d, { fetch: recordingFetch([], refuse) });
    await assert.rejects(s.uploadFile(join(dir, "m.safetensors"), "m.safetensors"), (e: unknown) => e instanceof TruecastError && e.code === "HUB_FORBIDDEN" && /uploading m\.safetensors: storage quota exceeded/.test(e.message));
  });
});
