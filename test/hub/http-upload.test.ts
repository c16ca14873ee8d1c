/**
 * The node:http transport of upload bodies (http-upload.ts), through hub-fetch and the upload session, against the
 * Hub double with no injected fetch: connections kept alive across parts and files, a part whose connection drops
 * sent again, no token to the storage host, a redirected upload refused, a stalled storage host given up on, and
 * the bytes exact whatever the reads and their reused buffers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { FileBlob } from "../../src/hub/file-blob.js";
import { createHubFetch } from "../../src/hub/hub-fetch.js";
import { UPLOAD_READ_BYTES } from "../../src/hub/http-upload.js";
import { createUploadSession } from "../../src/hub/upload-session.js";
import { TruecastError } from "../../src/errors.js";
import { startHubDouble, type FaultRequest, type HubDouble, type HubDoubleOptions } from "../support/hub-double.js";
import { tempDir } from "../helpers.js";

const SECRET = "hf_HTTPuploadSecret0123456789";
const MiB = 1024 * 1024;
/** 1 MiB parts, so a few MiB make a multipart upload of more parts than are sent at once (5). */
const DOUBLE: HubDoubleOptions = { tokens: { [SECRET]: { user: "acme", write: true } }, multipartThreshold: MiB, partSize: MiB };

/** Bytes whose every position is distinguishable (a buffer reused too early, or a wrong offset, shows). */
function bytesOf(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 13 + seed * 101 + (i >> 12)) & 0xff;
  return b;
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

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

const storagePuts = (d: HubDouble) => d.requests.filter((r) => r.server === "storage" && r.method === "PUT");

test("parts of two multipart uploads share kept-alive connections, and each object is stored with its exact bytes", async () => {
  await withDouble(DOUBLE, async (d, dir) => {
    // Sizes that are not a multiple of the read size: the last read of each part is short.
    const files = [bytesOf(8 * MiB + 12345, 1), bytesOf(7 * MiB + 1, 2)];
    const s = await createUploadSession({ repoId: "acme/keep", token: SECRET, endpoint: d.url });
    for (const [i, b] of files.entries()) {
      await writeFile(join(dir, `m${i}.safetensors`), b);
      const u = await s.uploadFile(join(dir, `m${i}.safetensors`), `m${i}.safetensors`);
      assert.equal(u.oid, sha(b));
      assert.equal(d.state.objects.get(u.oid), b.length, "stored: the double checked size and sha256 of what it received");
    }
    const requests = d.requests.filter((r) => r.server === "storage").length;
    assert.equal(storagePuts(d).length, 9 + 8);
    assert.equal(requests, 17 + 2, "17 parts and 2 completions");
    // At most 5 parts are in flight at once; without kept-alive connections there would be one per request (19).
    assert.ok(d.connections.storage <= 10, `${d.connections.storage} connections for ${requests} requests`);
    assert.equal(s.bytesSent(), files[0]!.length + files[1]!.length);
  });
});

test("a part whose connection drops mid-body is sent again, its bytes counted once, and the object is exact", async () => {
  await withDouble(DOUBLE, async (d, dir) => {
    const bytes = bytesOf(4 * MiB + 99, 3);
    await writeFile(join(dir, "m.safetensors"), bytes);
    const third = (r: FaultRequest) => r.method === "PUT" && /\/lfs\/part\/[0-9a-f]+\/3$/.test(r.path);
    d.faults.add({ match: third, kind: "drop", dropAfterBytes: 256 * 1024 });
    const retries: string[] = [];
    const s = await createUploadSession({
      repoId: "acme/drop", token: SECRET, endpoint: d.url, sleep: async () => undefined,
      onProgress: (e) => e.type === "retry" && retries.push(e.reason),
    });
    const u = await s.uploadFile(join(dir, "m.safetensors"), "m.safetensors");
    assert.equal(d.state.objects.get(u.oid), bytes.length);
    assert.equal(u.oid, sha(bytes));
    const part3 = storagePuts(d).filter((r) => third(r));
    assert.deepEqual(part3.map((r) => r.fault ?? "ok"), ["drop", "ok"], "part 3 sent twice: dropped, then whole");
    assert.equal(retries.length, 1);
    assert.match(retries[0] ?? "", /^(ECONNRESET|EPIPE)$/);
    assert.equal(s.bytesSent(), bytes.length, "the dropped attempt's bytes are taken back");
  });
});

test("an upload to the storage host carries no Authorization, even when its caller put one in its headers", async () => {
  await withDouble(DOUBLE, async (d, dir) => {
    const bytes = bytesOf(3 * UPLOAD_READ_BYTES + 7, 4);
    await writeFile(join(dir, "m.bin"), bytes);
    const f = createHubFetch({ endpoint: d.url, token: SECRET });
    const oid = sha(bytes);
    const res = await f(`${d.storageUrl}/lfs/put/${oid}?size=${bytes.length}`, {
      method: "PUT", headers: { Authorization: `Bearer ${SECRET}` }, body: await FileBlob.open(join(dir, "m.bin")),
    });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const put = storagePuts(d);
    assert.equal(put.length, 1);
    assert.equal(put[0]?.headers.authorization, undefined);
    assert.equal(put[0]?.headers["content-length"], String(bytes.length));
    assert.equal(d.state.objects.get(oid), bytes.length);
  });
});

test("a body read slowly by its host arrives exact (the socket pushes back while the next reads fill the reused buffers)", async () => {
  await withDouble(DOUBLE, async (d, dir) => {
    // More than socket buffers hold, read by a host that pauses between chunks: writes wait for the socket while
    // the next reads run into the buffers the transport reuses.
    const bytes = bytesOf(32 * UPLOAD_READ_BYTES + 5, 8);
    await writeFile(join(dir, "m.bin"), bytes);
    d.faults.add({
      match: (r) => r.method === "PUT", kind: "respond",
      respond: async (ctx) => {
        const h = createHash("sha256");
        let n = 0;
        for await (const c of ctx.req) {
          h.update(c as Buffer);
          if (++n % 4 === 0) await new Promise((r) => setTimeout(r, 5));
        }
        ctx.send(200, { sha256: h.digest("hex") });
      },
    });
    const f = createHubFetch({ endpoint: d.url, token: SECRET });
    const res = await f(`${d.storageUrl}/lfs/put/${sha(bytes)}?size=${bytes.length}`, { method: "PUT", body: await FileBlob.open(join(dir, "m.bin")) });
    assert.deepEqual(await res.json(), { sha256: sha(bytes) });
  });
});

test("an upload answered with a redirect is refused as HUB_SERVER, and nothing is sent where it points", async () => {
  await withDouble(DOUBLE, async (d, dir) => {
    await writeFile(join(dir, "m.bin"), bytesOf(2 * MiB, 5));
    d.faults.add({
      match: (r) => r.method === "PUT", kind: "respond", times: 5,
      respond: (ctx) => {
        ctx.req.resume();
        ctx.res.writeHead(307, { Location: `${ctx.hubOrigin}/elsewhere` }).end();
      },
    });
    const f = createHubFetch({ endpoint: d.url, token: SECRET, sleep: async () => undefined });
    await assert.rejects(
      f(`${d.storageUrl}/lfs/put/${"0".repeat(64)}?size=${2 * MiB}`, { method: "PUT", body: await FileBlob.open(join(dir, "m.bin")) }),
      (e: unknown) => e instanceof TruecastError && e.code === "HUB_SERVER" && /^the upload to 127\.0\.0\.1:\d+ was redirected; truecast does not follow redirects of uploads/.test(e.message),
    );
    assert.equal(d.requests.filter((r) => r.path === "/elsewhere").length, 0);
    assert.equal(storagePuts(d).length, 1, "a redirect is not retried");
  });
});

test("a storage host that stops reading the body fails the upload after the idle limit, as HUB_NETWORK", async () => {
  await withDouble(DOUBLE, async (d, dir) => {
    // More than loopback socket buffers hold, so the writes block once the host stops reading.
    await writeFile(join(dir, "m.bin"), bytesOf(48 * MiB, 6));
    d.faults.add({ match: (r) => r.method === "PUT", kind: "respond", respond: () => new Promise<void>(() => undefined) });
    const f = createHubFetch({ endpoint: d.url, token: SECRET, retry: { maxAttempts: 1 }, timeouts: { requestTimeoutMs: 500, retryBudgetMs: 60_000 } });
    await assert.rejects(
      f(`${d.storageUrl}/lfs/put/${"0".repeat(64)}?size=${48 * MiB}`, { method: "PUT", body: await FileBlob.open(join(dir, "m.bin")) }),
      (e: unknown) => e instanceof TruecastError && e.code === "HUB_NETWORK" && /PUT to the storage host 127\.0\.0\.1:\d+ failed with a timeout \(no progress for 500 ms;/.test(e.message),
    );
  });
});

test("an upload aborted by its caller rejects with the caller's reason and sends nothing more", async () => {
  await withDouble(DOUBLE, async (d, dir) => {
    await writeFile(join(dir, "m.bin"), bytesOf(48 * MiB, 7));
    // The host reads nothing: the upload is blocked in the socket when the caller gives up.
    d.faults.add({ match: (r) => r.method === "PUT", kind: "respond", respond: () => new Promise<void>(() => undefined) });
    const stop = new AbortController();
    const sent: number[] = [];
    const g = createHubFetch({ endpoint: d.url, token: SECRET, hooks: { onBodyBytes: (n) => sent.push(n) } });
    const put = g(`${d.storageUrl}/lfs/put/${"0".repeat(64)}?size=${48 * MiB}`, { method: "PUT", body: await FileBlob.open(join(dir, "m.bin")), signal: stop.signal });
    while (sent.length === 0) await new Promise((r) => setTimeout(r, 10));
    stop.abort(new Error("cancelled by the test"));
    await assert.rejects(put, /cancelled by the test/);
    const total = sent.reduce((a, b) => a + b, 0);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(sent.reduce((a, b) => a + b, 0), total, "no byte handed to the socket after the abort");
    assert.ok(total < 48 * MiB);
  });
});
