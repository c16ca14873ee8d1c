/**
 * The node:http transport of file bytes (src/store/range-http.ts), through a store opened on the Hub double: the
 * bytes do not go through fetch; the token reaches the Hub's origin only, never the storage host it redirects to,
 * and a redirect to a non-http URL is refused; an answer for another range is refused; a connection dropped
 * mid-body is resumed from the byte it reached, bit-identical; a stalled body fails at the idle limit; an abort
 * (Ctrl-C) stops a read at once and closes its connection.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { openStore } from "../../src/store/open-store.js";
import { startHubDouble, type DoubleContext, type HubDouble } from "../support/hub-double.js";
import { hubEnv, repoFiles, seedRepo, sha256 } from "./hub-repo-fixture.js";

const NAME = "model-00001-of-00001.safetensors";
const fast = { retry: { baseDelayMs: 1, maxDelayMs: 2 } };

async function withRepo(fn: (d: HubDouble, file: Buffer) => Promise<void>, opts: { private?: boolean } = {}): Promise<void> {
  const d = await startHubDouble();
  try {
    const repo = await seedRepo(d, "acme/m", repoFiles(1, 4, 512 * 1024), opts);
    await fn(d, Buffer.from(repo.files[NAME] ?? []));
  } finally {
    await d.stop();
  }
}

async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

function rangeOf(ctx: DoubleContext): [number, number] {
  const m = (ctx.req.headers.range ?? "").match(/^bytes=(\d+)-(\d+)$/);
  return [Number(m?.[1]), Number(m?.[2])];
}

const oneLine = (code: string, re: RegExp) => (e: Error & { code?: string }) => {
  assert.equal(e.code, code, e.message);
  assert.match(e.message, re);
  assert.ok(!e.message.includes("\n") && !/hf_(read|write)/.test(e.message), "one line, no token");
  return true;
};

test("file bytes come over node:http, not fetch; the token goes to the Hub only, not to the storage host", async () => {
  await withRepo(async (d, file) => {
    const store = await openStore("hf://acme/m", { env: await hubEnv(d, { HF_TOKEN: "hf_read" }) });
    const f = await store.open(NAME);
    const real = globalThis.fetch;
    let fetched = 0;
    globalThis.fetch = ((...a: Parameters<typeof fetch>) => (fetched++, real(...a))) as typeof fetch;
    try {
      assert.equal(sha256(await readAll(f.chunks(0, f.size, 1 << 20))), sha256(file));
    } finally {
      globalThis.fetch = real;
    }
    assert.equal(fetched, 0, "no fetch for file bytes");
    const resolves = d.requests.filter((r) => r.server === "hub" && r.path.includes("/resolve/"));
    const storage = d.requests.filter((r) => r.server === "storage");
    assert.ok(resolves.length >= 1 && storage.length === resolves.length);
    assert.ok(resolves.every((r) => r.headers.authorization === "<present>"), "the Hub gets the token");
    assert.ok(storage.every((r) => r.headers.authorization === undefined && /^bytes=\d+-\d+$/.test(r.headers.range ?? "")), "the storage host gets the range, never the token");
  }, { private: true });
});

test("a redirect to a URL that is not http(s) is refused with one line", async () => {
  await withRepo(async (d) => {
    const store = await openStore("hf://acme/m", { env: await hubEnv(d), ...fast });
    const f = await store.open(NAME);
    d.faults.add({ match: (r) => r.server === "storage", kind: "respond", respond: (c) => { c.res.writeHead(302, { Location: "file:///etc/passwd" }); c.res.end(); } });
    await assert.rejects(readAll(f.chunks(0, f.size, 1 << 20)), oneLine("HUB_SERVER", /redirected to a file: URL; truecast follows redirects to http\(s\) only/));
  });
});

test("an answer for other bytes than the range asked for is refused, never used", async () => {
  await withRepo(async (d) => {
    const store = await openStore("hf://acme/m", { env: await hubEnv(d), ...fast });
    const f = await store.open(NAME);
    d.faults.add({
      match: (r) => r.server === "storage", kind: "respond",
      respond: (c) => {
        const [a, b] = rangeOf(c);
        c.res.writeHead(206, { "Content-Range": `bytes ${a + 1}-${b + 1}/${f.size}`, "Content-Length": String(b - a + 1) });
        c.res.end(Buffer.alloc(b - a + 1));
      },
    });
    await assert.rejects(readAll(f.chunks(1000, 600_000, 1 << 20)), oneLine("HUB_SERVER", /asked for bytes 1000-600999, the answer says it holds "bytes 1001-601000\//));
  });
});

test("a connection dropped mid-body, twice, is resumed from the byte it reached; the bytes are identical", async () => {
  await withRepo(async (d, file) => {
    const store = await openStore("hf://acme/m", { env: await hubEnv(d), ...fast });
    const f = await store.open(NAME);
    const cut = 300_000;
    d.faults.add({
      match: (r) => r.server === "storage", kind: "respond", times: 2,
      respond: (c) => {
        const [a, b] = rangeOf(c);
        c.res.writeHead(206, { "Content-Range": `bytes ${a}-${b}/${file.length}`, "Content-Length": String(b - a + 1) });
        c.res.write(file.subarray(a, a + cut), () => c.res.socket?.destroy());
      },
    });
    const start = 100;
    const got = await readAll(f.chunks(start, file.length - start, 256 * 1024));
    assert.ok(got.equals(file.subarray(start)), "bit-identical");
    const ranges = d.requests.filter((r) => r.server === "storage").map((r) => r.headers.range);
    assert.deepEqual(ranges, [0, 1, 2].map((i) => `bytes=${start + i * cut}-${file.length - 1}`), "each resume starts where the last answer stopped");
  });
});

test("a body that stalls fails at the idle limit with one line", async () => {
  await withRepo(async (d, file) => {
    const store = await openStore("hf://acme/m", { env: await hubEnv(d), timeouts: { requestTimeoutMs: 500, retryBudgetMs: 5000 }, retry: { maxAttempts: 1 } });
    const f = await store.open(NAME);
    d.faults.add({
      match: (r) => r.server === "storage", kind: "respond", times: 10,
      respond: (c) => {
        const [a, b] = rangeOf(c);
        c.res.writeHead(206, { "Content-Range": `bytes ${a}-${b}/${file.length}`, "Content-Length": String(b - a + 1) });
        c.res.write(file.subarray(a, a + 1000));
      },
    });
    await assert.rejects(readAll(f.chunks(0, file.length, 1 << 20)), oneLine("HUB_NETWORK", /the answer to GET http:\/\/127\.0\.0\.1:\d+\/acme\/m\/resolve\/[0-9a-f]{40}\/model-00001-of-00001\.safetensors was cut off: no progress for 500 ms/));
  });
});

test("an abort (Ctrl-C) stops a read at once and closes its connection", async () => {
  await withRepo(async (d, file) => {
    const stop = new AbortController();
    const store = await openStore("hf://acme/m", { env: await hubEnv(d), signal: stop.signal, ...fast });
    const f = await store.open(NAME);
    let closed: Promise<void> = Promise.resolve();
    d.faults.add({
      match: (r) => r.server === "storage", kind: "respond",
      respond: (c) => {
        const [a, b] = rangeOf(c);
        c.res.writeHead(206, { "Content-Range": `bytes ${a}-${b}/${file.length}`, "Content-Length": String(b - a + 1) });
        c.res.write(file.subarray(a, a + 200_000));
        closed = new Promise((r) => c.res.on("close", () => r()));
      },
    });
    const it = f.chunks(0, file.length, 64 * 1024)[Symbol.asyncIterator]();
    const first = await it.next();
    assert.ok(!first.done && Buffer.from(first.value).equals(file.subarray(0, 64 * 1024)));
    stop.abort("SIGINT");
    await assert.rejects(it.next(), oneLine("INTERNAL", /^interrupted by SIGINT/));
    await closed;
    assert.equal(d.requests.filter((r) => r.server === "storage").length, 1, "not retried");
  });
});
