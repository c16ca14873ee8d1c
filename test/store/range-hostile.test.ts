/**
 * Hostile answers to the ranged reads of an hf:// file (range-http.ts, hub-range.ts), from the storage host the Hub
 * redirects to: a compressed body though truecast asked for identity, a 206 whose body never ends (a multi-GB
 * answer), a 200 for the whole of a small file whose body goes on past it, a 206 that is always cut short, a 206
 * whose Content-Length is not the length of its Content-Range, and a Hub that echoes the token into a Content-Range.
 * Each ends in the right bytes or one clear line (never holding the token), with bounded memory and time.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { test } from "node:test";
import type { TruecastError } from "../../src/errors.js";
import { openStore } from "../../src/store/open-store.js";
import { startHubDouble, type DoubleContext, type HubDouble } from "../support/hub-double.js";
import { hubEnv, repoFiles, seedRepo } from "./hub-repo-fixture.js";

const NAME = "model-00001-of-00001.safetensors";
const fast = { retry: { baseDelayMs: 1, maxDelayMs: 2 } };

async function withRepo(fn: (d: HubDouble, files: Record<string, Uint8Array>) => Promise<void>): Promise<void> {
  const d = await startHubDouble();
  try {
    const files = repoFiles(1, 4, 512 * 1024);
    await seedRepo(d, "acme/m", files);
    await fn(d, files);
  } finally {
    await d.stop();
  }
}

function rangeOf(ctx: DoubleContext): [number, number] {
  const m = (ctx.req.headers.range ?? "").match(/^bytes=(\d+)-(\d+)$/);
  return [Number(m?.[1]), Number(m?.[2])];
}

const oneLine = (code: string, re: RegExp) => (e: TruecastError) => {
  assert.equal(e.code, code, e.message);
  assert.match(e.message, re);
  assert.ok(!e.message.includes("\n"));
  return true;
};

test("a compressed answer (Content-Encoding: gzip) to a read that asked for identity is refused, never used", async () => {
  await withRepo(async (d, files) => {
    const file = Buffer.from(files[NAME] ?? []);
    const store = await openStore("hf://acme/m", { env: await hubEnv(d), ...fast });
    const f = await store.open(NAME);
    d.faults.add({
      match: (r) => r.server === "storage", kind: "respond", times: 100,
      respond: (c) => {
        const [a, b] = rangeOf(c);
        const body = gzipSync(file.subarray(a, b + 1));
        c.res.writeHead(206, { "Content-Range": `bytes ${a}-${b}/${file.length}`, "Content-Encoding": "gzip", "Content-Length": String(body.length) });
        c.res.end(body);
      },
    });
    await assert.rejects(f.read(0, 8), oneLine("HUB_SERVER", /the answer is compressed \(Content-Encoding: gzip\)/));
    await store.close();
  });
});

test("a 206 whose body never ends is cut after the bytes asked for: one line, memory bounded", async () => {
  await withRepo(async (d) => {
    const store = await openStore("hf://acme/m", { env: await hubEnv(d), ...fast });
    const f = await store.open(NAME);
    let sent = 0;
    d.faults.add({
      match: (r) => r.server === "storage", kind: "respond",
      respond: (c) => {
        const [a, b] = rangeOf(c);
        c.res.writeHead(206, { "Content-Range": `bytes ${a}-${b}/${f.size}` });
        const chunk = Buffer.alloc(1 << 20, 1);
        // Up to 8 GB, as fast as the client reads it.
        const pump = () => {
          while (sent < 8 * 2 ** 30 && !c.res.destroyed) {
            sent += chunk.length;
            if (!c.res.write(chunk)) return void c.res.once("drain", pump);
          }
          c.res.end();
        };
        c.res.on("close", () => (sent = Infinity));
        pump();
      },
    });
    const before = process.memoryUsage().rss;
    await assert.rejects(async () => {
      for await (const _ of f.chunks(0, f.size, 1 << 20)) void _;
    }, oneLine("HUB_SERVER", /the answer holds more than the \d+ bytes asked for/));
    assert.ok(process.memoryUsage().rss - before < 256 * 2 ** 20, "memory bounded");
    await store.close();
  });
});

test("a 206 whose Content-Length is not its Content-Range's length is refused at once, before a byte is used", async () => {
  for (const delta of [1000, -1000]) {
    await withRepo(async (d, files) => {
      const file = Buffer.from(files[NAME] ?? []);
      // A stall past the range would otherwise end only at the request timeout.
      const store = await openStore("hf://acme/m", { env: await hubEnv(d), ...fast, timeouts: { requestTimeoutMs: 30_000 } });
      const f = await store.open(NAME);
      d.faults.add({
        match: (r) => r.server === "storage", kind: "respond", times: 100,
        respond: (c) => {
          const [a, b] = rangeOf(c);
          c.res.writeHead(206, { "Content-Range": `bytes ${a}-${b}/${file.length}`, "Content-Length": String(b - a + 1 + delta) });
          // The range's bytes (and a few more when the length says so), then the connection stays open.
          c.res.write(file.subarray(a, b + 1 + Math.max(0, delta) / 2));
        },
      });
      await assert.rejects(f.read(300_000, 2000), (e: TruecastError) => {
        oneLine("HUB_SERVER", /the answer's Content-Length \(\d+\) is not the \d+ bytes of its Content-Range "bytes \d+-\d+\/\d+"/)(e);
        const [, declared, length, a, b, total] = (/\((\d+)\) is not the (\d+) bytes of its Content-Range "bytes (\d+)-(\d+)\/(\d+)"/.exec(e.message) ?? []).map(Number);
        assert.deepEqual([declared, a, total], [(length ?? 0) + delta, 300_000, file.length]);
        assert.equal(length, (b ?? 0) - (a ?? 0) + 1);
        return true;
      });
      assert.equal(d.requests.filter((r) => r.server === "storage").length, 1, "not retried, not resumed");
      await store.close();
    });
  }
});

test("a Hub that echoes the token into a Content-Range: the error line names the range without the token", async () => {
  const token = "hf_EchoedBackEchoedBackEchoedBack1234";
  const d = await startHubDouble({ tokens: { [token]: { user: "acme", write: false } } });
  try {
    await seedRepo(d, "acme/m", repoFiles(1, 4, 512 * 1024), { private: true });
    const store = await openStore("hf://acme/m", { env: await hubEnv(d, { HF_TOKEN: token }), ...fast });
    const f = await store.open(NAME);
    let sent = "";
    d.faults.add({
      match: (r) => r.server === "hub" && r.path.includes("/resolve/"), kind: "respond",
      respond: (c) => {
        sent = c.req.headers.authorization ?? "";
        c.res.writeHead(206, { "Content-Range": `bytes 0-7/${sent.replace(/^Bearer /, "")}`, "Content-Length": "8" });
        c.res.end(Buffer.alloc(8));
      },
    });
    await assert.rejects(f.read(300_000, 2000), (e: TruecastError) => {
      oneLine("HUB_SERVER", /the answer says it holds "bytes 0-7\/hf_\*\*\*"/)(e);
      assert.ok(!e.message.includes(token.slice(0, 8)), e.message);
      return true;
    });
    assert.equal(sent, `Bearer ${token}`, "the Hub was sent the token");
    await store.close();
  } finally {
    await d.stop();
  }
});
