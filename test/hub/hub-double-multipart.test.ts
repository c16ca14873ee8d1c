/**
 * The Hub double's multipart uploads: parts written in place into one file and hashed back in order. The publish
 * benchmark relies on this costing the double about what a single PUT costs, so it must also stay correct when
 * parts arrive out of order, at once, twice, or wrong.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { startHubDouble, type HubDouble } from "../support/hub-double.js";

const PART = 64 * 1024;
const AUTH = { Authorization: "Bearer hf_write" };

function objectBytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >>> 9)) & 0xff;
  return b;
}

interface Upload {
  oid: string;
  partUrls: string[];
  completeUrl: string;
}

async function startUpload(d: HubDouble, bytes: Buffer): Promise<Upload> {
  const created = await fetch(`${d.url}/api/repos/create`, { method: "POST", headers: { ...AUTH, "Content-Type": "application/json" }, body: JSON.stringify({ name: "mp", type: "model" }) });
  assert.ok(created.ok || created.status === 409);
  await created.body?.cancel();
  const oid = createHash("sha256").update(bytes).digest("hex");
  const res = await fetch(`${d.url}/acme/mp.git/info/lfs/objects/batch`, {
    method: "POST",
    headers: { ...AUTH, Accept: "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json" },
    body: JSON.stringify({ operation: "upload", transfers: ["basic", "multipart"], hash_algo: "sha_256", objects: [{ oid, size: bytes.length }] }),
  });
  const json = (await res.json()) as { objects: Array<{ actions: { upload: { href: string; header: Record<string, string> } } }> };
  const upload = json.objects[0]?.actions.upload;
  assert.ok(upload, "a multipart upload is offered");
  assert.equal(upload.header.chunk_size, String(PART));
  const partUrls = Object.keys(upload.header).filter((k) => /^\d+$/.test(k)).sort().map((k) => upload.header[k] ?? "");
  return { oid, partUrls, completeUrl: upload.href };
}

async function putPart(u: Upload, n: number, body: Uint8Array): Promise<{ status: number; etag: string | null }> {
  const res = await fetch(u.partUrls[n - 1] ?? "", { method: "PUT", body });
  await res.body?.cancel();
  return { status: res.status, etag: res.headers.get("etag") };
}

async function complete(u: Upload, etags: Array<string | null>): Promise<number> {
  const res = await fetch(u.completeUrl, { method: "POST", body: JSON.stringify({ oid: u.oid, parts: etags.map((etag, i) => ({ partNumber: i + 1, etag })) }) });
  await res.body?.cancel();
  return res.status;
}

const part = (bytes: Buffer, n: number) => bytes.subarray((n - 1) * PART, n * PART);

async function withDouble(run: (d: HubDouble) => Promise<void>): Promise<void> {
  const d = await startHubDouble({ multipartThreshold: PART, partSize: PART });
  try {
    await run(d);
  } finally {
    await d.stop();
  }
}

test("parts sent at once and out of order are stored as one object with the exact bytes", async () => {
  await withDouble(async (d) => {
    const bytes = objectBytes(5 * PART + 1234, 1);
    const u = await startUpload(d, bytes);
    assert.equal(u.partUrls.length, 6);
    const order = [6, 3, 1, 5, 2, 4];
    const answers = await Promise.all(order.map((n) => putPart(u, n, part(bytes, n))));
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200, 200]);
    const etags: Array<string | null> = [];
    for (const [i, n] of order.entries()) etags[n - 1] = answers[i]?.etag ?? null;
    assert.equal(await complete(u, etags), 200);
    assert.equal(d.state.objects.get(u.oid), bytes.length);
    assert.ok((await readFile(d.state.objectPath(u.oid))).equals(bytes));
    assert.deepEqual(await readdir(join(d.state.dir, "tmp")), [], "no part files left behind");
  });
});

test("a part sent again after it was hashed (a retry) leaves the object intact", async () => {
  await withDouble(async (d) => {
    const bytes = objectBytes(3 * PART, 2);
    const u = await startUpload(d, bytes);
    const etags = [(await putPart(u, 1, part(bytes, 1))).etag, (await putPart(u, 2, part(bytes, 2))).etag];
    etags[0] = (await putPart(u, 1, part(bytes, 1))).etag;
    etags.push((await putPart(u, 3, part(bytes, 3))).etag);
    assert.equal(await complete(u, etags), 200);
    assert.ok((await readFile(d.state.objectPath(u.oid))).equals(bytes));
  });
});

test("a part sent again with other bytes is caught by the sha256 check at completion", async () => {
  await withDouble(async (d) => {
    const bytes = objectBytes(2 * PART, 3);
    const u = await startUpload(d, bytes);
    const first = await putPart(u, 1, part(bytes, 1));
    const second = await putPart(u, 2, part(bytes, 2));
    const wrong = Buffer.from(part(bytes, 1));
    wrong[7] = (wrong[7] ?? 0) ^ 1;
    const again = await putPart(u, 1, wrong);
    assert.equal(again.status, 200);
    assert.notEqual(again.etag, first.etag, "each reception of a part has its own ETag");
    assert.equal(await complete(u, [first.etag, second.etag]), 400, "the earlier ETag of part 1 is refused");
    assert.equal(await complete(u, [again.etag, second.etag]), 400, "sha256 mismatch");
    assert.equal(d.state.objects.has(u.oid), false);
  });
});

test("a part with too many or too few bytes is refused by its Content-Length (411) and does not spill into its neighbour", async () => {
  await withDouble(async (d) => {
    const bytes = objectBytes(3 * PART, 4);
    const u = await startUpload(d, bytes);
    const e3 = (await putPart(u, 3, part(bytes, 3))).etag;
    const long = await putPart(u, 2, Buffer.concat([part(bytes, 2), Buffer.alloc(PART, 0xee)]));
    assert.equal(long.status, 411);
    const short = await putPart(u, 1, part(bytes, 1).subarray(0, 100));
    assert.equal(short.status, 411);
    const e1 = (await putPart(u, 1, part(bytes, 1))).etag;
    const e2 = (await putPart(u, 2, part(bytes, 2))).etag;
    assert.equal(await complete(u, [e1, e2, e3]), 200);
    assert.ok((await readFile(d.state.objectPath(u.oid))).equals(bytes));
  });
});

test("completion with a part missing is refused", async () => {
  await withDouble(async (d) => {
    const bytes = objectBytes(2 * PART, 5);
    const u = await startUpload(d, bytes);
    const e1 = (await putPart(u, 1, part(bytes, 1))).etag;
    assert.equal(await complete(u, [e1]), 400);
    assert.equal(await complete(u, [e1, '"part-2-999"']), 400);
  });
});
