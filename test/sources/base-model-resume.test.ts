/**
 * Base-model downloads survive a dropped connection: a body cut off mid-file is resumed with a Range request from
 * the bytes already received (an LFS file, whose sha256 the Hub gives, is checked whole after the splice), or
 * started again (a regular file, which has no sha256 to check a splice against); the HEAD that names the commit when
 * the first file asked for is absent is retried like every other request. Served by the Hub double, with the
 * cut-offs injected as faults; the model is published to it first, from a folder generated here.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { HubApiError } from "@huggingface/hub";
import { TruecastError } from "../../src/errors.js";
import { publishFolder } from "../../src/hub/publish-folder.js";
import { downloadToCache } from "../../src/sources/base-model-hub.js";
import { startHubDouble, type DoubleContext, type HubDouble } from "../support/hub-double.js";
import { tempDir } from "../helpers.js";
import { writeModelFolder } from "../hub/model-folder.js";

const SHARD = "model-00001-of-00002.safetensors";
const noSleep = async () => undefined;

/** A published model in the double, and a cache folder to download it into. */
/** Requests made by the publish are left out of what a test counts (its verification reads ranges too). */
let published = 0;

async function withModel(fn: (d: HubDouble, model: string, cache: string) => Promise<void>): Promise<void> {
  const d = await startHubDouble();
  const t = await tempDir();
  try {
    const model = join(t.dir, "model");
    await writeModelFolder(model, { rows: 20_000 });
    await publishFolder({ folder: model, repoId: "acme/base", token: "hf_write", endpoint: d.url, sleep: noSleep });
    published = d.requests.length;
    await fn(d, model, join(t.dir, "cache"));
  } finally {
    await d.stop();
    await t.cleanup();
  }
}

const download = (d: HubDouble, cache: string, files: string[]) =>
  downloadToCache({ modelId: "acme/base", revision: "main", files, cacheDir: cache, endpoint: d.url, token: "hf_write", sleep: noSleep });

/** The asked range of `bytes` as a 206 whose headers promise all of it, but only `keep` bytes of it, then a cut. */
function cutOff(ctx: DoubleContext, bytes: Buffer, keep: (start: number, end: number) => number): void {
  const m = /^bytes=(\d+)-(\d+)$/.exec(ctx.req.headers.range ?? "");
  const start = Number(m?.[1] ?? 0);
  const end = Math.min(Number(m?.[2] ?? bytes.length - 1), bytes.length - 1);
  ctx.res.writeHead(206, { "Content-Range": `bytes ${start}-${end}/${bytes.length}`, "Content-Length": String(end - start + 1), "Accept-Ranges": "bytes" });
  const n = keep(start, end);
  if (n >= end - start + 1) return void ctx.res.end(bytes.subarray(start, end + 1));
  // The cut comes a little after the bytes are flushed, so that the client has read most of them: a fetch body
  // drops chunks it had queued but not yet handed out when the socket errors, so how many bytes a client keeps
  // from a cut-off body is its own, and the tests below only require a resume from somewhere inside what was sent.
  ctx.res.write(bytes.subarray(start, start + n), () => setTimeout(() => ctx.res.destroy(), 50));
}

/** The first byte a `bytes=S-E` range asks for. */
const rangeStart = (range: string | undefined) => Number(/^bytes=(\d+)-/.exec(range ?? "")?.[1] ?? NaN);

/** The range requests for the bytes of a file (not the probe's `bytes=0-0`). */
const byteRanges = (d: HubDouble, where: (path: string) => boolean) =>
  d.requests.slice(published).filter((r) => r.method === "GET" && where(r.path) && r.headers.range !== "bytes=0-0").map((r) => r.headers.range);

test("an LFS file whose connection drops mid-body is resumed from the bytes received, and checked whole", async () => {
  await withModel(async (d, model, cache) => {
    const bytes = await readFile(join(model, SHARD));
    assert.ok(bytes.length > 600_000);
    const half = Math.floor(bytes.length / 2);
    d.faults.add({
      match: (r) => r.server === "storage" && r.method === "GET" && r.headers.range !== "bytes=0-0",
      kind: "respond",
      respond: (ctx) => cutOff(ctx, bytes, () => half),
    });
    const r = await download(d, cache, [SHARD]);
    assert.deepEqual(await readFile(r.got.get(SHARD) ?? ""), bytes);
    const ranges = byteRanges(d, (p) => p.startsWith("/lfs/get/"));
    assert.equal(ranges.length, 2, String(ranges));
    assert.equal(ranges[0], `bytes=0-${bytes.length - 1}`);
    // Resumed, not started again: from the bytes received, which are at most the half that was sent.
    const resumedAt = rangeStart(ranges[1]);
    assert.ok(resumedAt > 0 && resumedAt <= half, `resumed at ${resumedAt}, sent ${half}`);
    assert.equal(ranges[1], `bytes=${resumedAt}-${bytes.length - 1}`);
    const blobs = await readdir(join(cache, "models--acme--base", "blobs"));
    assert.equal(blobs.filter((b) => b.includes("incomplete")).length, 0);
  });
});

test("resumed bytes that are not the file's (the sha256 differs) are refused and nothing is kept", async () => {
  await withModel(async (d, model, cache) => {
    const bytes = await readFile(join(model, SHARD));
    const half = Math.floor(bytes.length / 2);
    const other = Buffer.from(bytes);
    other[bytes.length - 10] = (other[bytes.length - 10] ?? 0) ^ 0xff;
    d.faults.add({ match: (r) => r.server === "storage" && r.method === "GET" && r.headers.range !== "bytes=0-0", kind: "respond", respond: (ctx) => cutOff(ctx, bytes, () => half) });
    // The resume (a range that does not start at 0) is answered with bytes that are not the file's.
    d.faults.add({ match: (r) => r.server === "storage" && r.method === "GET" && rangeStart(r.headers.range) > 0, kind: "respond", respond: (ctx) => cutOff(ctx, other, (s, e) => e - s + 1) });
    await assert.rejects(download(d, cache, [SHARD]), (e: unknown) => {
      assert.ok(e instanceof TruecastError, String(e));
      assert.equal(e.code, "HUB_SERVER");
      assert.match(e.message, new RegExp(`^${SHARD.replace(/\./g, "\\.")}: the bytes downloaded have sha256 [0-9a-f]{64}, not the [0-9a-f]{64} the Hub announced; nothing was kept`));
      return true;
    });
    const blobs = await readdir(join(cache, "models--acme--base", "blobs")).catch(() => []);
    assert.deepEqual(blobs, [], "no blob, no partial file");
  });
});

test("a regular file whose bytes are not its git blob id (the Hub's ETag for it) is refused and nothing is kept", async () => {
  await withModel(async (d, model, cache) => {
    const bytes = await readFile(join(model, "config.json"));
    // Same size, one byte changed; the Hub still announces the committed file's git blob id.
    const lie = Buffer.from(bytes);
    lie[1] = (lie[1] ?? 0) ^ 0x20;
    d.state.tamper({ repo: "acme/base", path: "config.json", kind: "bytes", bytes: lie });
    await assert.rejects(download(d, cache, ["config.json"]), (e: unknown) => {
      assert.ok(e instanceof TruecastError, String(e));
      assert.equal(e.code, "HUB_SERVER");
      assert.match(e.message, /^config\.json: the bytes downloaded have git blob id [0-9a-f]{40}, not the [0-9a-f]{40} the Hub announced \(its ETag\); nothing was kept; run again$/);
      return true;
    });
    const blobs = await readdir(join(cache, "models--acme--base", "blobs")).catch(() => []);
    assert.deepEqual(blobs, [], "no blob, no partial file");
  });
});

test("a regular file whose connection drops mid-body is fetched again from its first byte", async () => {
  await withModel(async (d, model, cache) => {
    const bytes = await readFile(join(model, "config.json"));
    d.faults.add({
      match: (r) => r.server === "hub" && r.method === "GET" && r.path.endsWith("/config.json") && r.headers.range !== "bytes=0-0",
      kind: "respond",
      respond: (ctx) => cutOff(ctx, bytes, () => 20),
    });
    const r = await download(d, cache, ["config.json"]);
    assert.deepEqual(await readFile(r.got.get("config.json") ?? ""), bytes);
    const ranges = byteRanges(d, (p) => p.endsWith("/config.json"));
    assert.deepEqual(ranges, [`bytes=0-${bytes.length - 1}`, `bytes=0-${bytes.length - 1}`]);
  });
});

test("a connection that keeps dropping fails after a bounded number of resumes, with one line and nothing kept", async () => {
  await withModel(async (d, model, cache) => {
    const bytes = await readFile(join(model, SHARD));
    d.faults.add({
      match: (r) => r.server === "storage" && r.method === "GET" && r.headers.range !== "bytes=0-0",
      kind: "respond",
      times: 100,
      respond: (ctx) => cutOff(ctx, bytes, () => 1000),
    });
    await assert.rejects(download(d, cache, [SHARD]), (e: unknown) => {
      assert.ok(e instanceof TruecastError, String(e));
      assert.equal(e.code, "HUB_NETWORK");
      assert.match(e.message, /the download broke off 6 times .*nothing was kept; check the connection and run again$/);
      assert.equal(e.message.includes("\n"), false);
      return true;
    });
    assert.equal(byteRanges(d, (p) => p.startsWith("/lfs/get/")).length, 6);
    const blobs = await readdir(join(cache, "models--acme--base", "blobs")).catch(() => []);
    assert.deepEqual(blobs, []);
  });
});

/** The HEAD requests of the download that ask which commit the revision is. */
const heads = (d: HubDouble) => d.requests.slice(published).filter((r) => r.method === "HEAD");

for (const fault of [{ kind: "status", status: 503 }, { kind: "drop" }] as const) {
  test(`the commit lookup (a HEAD, when the first file is absent) is retried after a ${fault.kind === "drop" ? "dropped connection" : "503"}`, async () => {
    await withModel(async (d, _model, cache) => {
      d.faults.add({ match: (r) => r.server === "hub" && r.method === "HEAD", ...fault });
      const r = await download(d, cache, ["absent.json", "config.json"]);
      const main = await readFile(join(cache, "models--acme--base", "refs", "main"), "utf8");
      assert.match(main, /^[0-9a-f]{40}$/);
      assert.equal(r.commit, main);
      assert.deepEqual(r.absent, ["absent.json"]);
      assert.deepEqual([...r.got.keys()], ["config.json"]);
      assert.deepEqual(heads(d).map((h) => [h.path, h.fault ?? h.status]), [
        ["/acme/base/resolve/main/absent.json", fault.kind],
        ["/acme/base/resolve/main/absent.json", 404],
      ]);
    });
  });
}

test("a commit lookup that fails on every attempt says the Hub's status, after the retry policy's attempts", async () => {
  await withModel(async (d, _model, cache) => {
    d.faults.add({ match: (r) => r.server === "hub" && r.method === "HEAD", kind: "status", status: 503, times: 100 });
    await assert.rejects(download(d, cache, ["absent.json"]), (e: unknown) => {
      assert.ok(e instanceof HubApiError, String(e));
      assert.equal(e.statusCode, 503);
      return true;
    });
    assert.equal(heads(d).length, 5);
  });
});
