/**
 * The token and redirect rules, attacked through both request layers (the hub fetch, and range-http.ts for file
 * bytes) with hostile servers on 127.0.0.1: a storage host that redirects back to the endpoint must not get the
 * token sent there, a redirect to a non-http(s) URL or from https down to http is refused with one line and no
 * retries, and a redirect loop ends.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { createHubFetch } from "../../src/hub/hub-fetch.js";
import { createRangeHttp } from "../../src/store/range-http.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Host {
  origin: string;
  seen: { path: string; auth: string | undefined }[];
  close: () => Promise<void>;
}

async function host(handle: Handler): Promise<Host> {
  const seen: Host["seen"] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ path: req.url ?? "", auth: req.headers.authorization });
    handle(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

const BYTES = Buffer.from("0123456789abcdef");
const fast = { retry: { baseDelayMs: 1, maxDelayMs: 2 }, sleep: async () => undefined };

/** The endpoint: /resolve/* redirects to the storage host; /api/* answers the bytes (or JSON). */
async function bounceBack(): Promise<{ hub: Host; storage: Host; stop: () => Promise<void> }> {
  let storageOrigin = "";
  const hub = await host((req, res) => {
    if (req.url?.startsWith("/resolve/")) {
      res.writeHead(302, { Location: `${storageOrigin}/obj` });
      return void res.end();
    }
    res.writeHead(206, { "Content-Range": `bytes 0-${BYTES.length - 1}/${BYTES.length}`, "Content-Length": String(BYTES.length) });
    res.end(BYTES);
  });
  // The storage host sends the request back to a path of the endpoint it chose.
  const storage = await host((_req, res) => {
    res.writeHead(302, { Location: `${hub.origin}/api/settings/tokens/delete-me` });
    res.end();
  });
  storageOrigin = storage.origin;
  return { hub, storage, stop: async () => { await hub.close(); await storage.close(); } };
}

test("range reads: a storage host that redirects back to the endpoint does not get the token sent there", async () => {
  const { hub, storage, stop } = await bounceBack();
  const http = createRangeHttp({ endpoint: hub.origin, token: "hf_secret", ...fast });
  try {
    const answer = await http.open(`${hub.origin}/resolve/main/f`, 0, BYTES.length);
    answer.close();
    assert.deepEqual(hub.seen.map((s) => [s.path, s.auth]), [
      ["/resolve/main/f", "Bearer hf_secret"],
      ["/api/settings/tokens/delete-me", undefined],
    ]);
    assert.ok(storage.seen.every((s) => s.auth === undefined));
  } finally {
    http.close();
    await stop();
  }
});

test("hub fetch: a storage host that redirects back to the endpoint does not get the token sent there", async () => {
  const { hub, storage, stop } = await bounceBack();
  const f = createHubFetch({ endpoint: hub.origin, token: "hf_secret", ...fast });
  try {
    const res = await f(`${hub.origin}/resolve/main/f`);
    await res.arrayBuffer();
    assert.deepEqual(hub.seen.map((s) => [s.path, s.auth]), [
      ["/resolve/main/f", "Bearer hf_secret"],
      ["/api/settings/tokens/delete-me", undefined],
    ]);
    assert.ok(storage.seen.every((s) => s.auth === undefined));
  } finally {
    await stop();
  }
});

const oneLine = (re: RegExp) => (e: Error & { code?: string }) => {
  assert.equal(e.code, "HUB_SERVER", e.message);
  assert.match(e.message, re);
  assert.ok(!e.message.includes("\n") && !e.message.includes("hf_secret"));
  return true;
};

test("hub fetch: a redirect to a file: URL is refused with one line, not retried as a network failure", async () => {
  const hub = await host((_req, res) => {
    res.writeHead(302, { Location: "file:///etc/passwd" });
    res.end();
  });
  const f = createHubFetch({ endpoint: hub.origin, token: "hf_secret", ...fast });
  try {
    await assert.rejects(f(`${hub.origin}/api/models/acme/m`), oneLine(/redirected to a file: URL; truecast follows redirects to http\(s\) only/));
    assert.equal(hub.seen.length, 1, "asked once");
  } finally {
    await hub.close();
  }
});

test("both layers: a redirect from https down to plain http is refused with one line", async () => {
  // The https endpoint is never reached: the fetch is a double that answers a redirect to http.
  const endpoint = "https://hub.example";
  const fake = (async () => new Response(null, { status: 302, headers: { Location: "http://cdn.example/obj" } })) as typeof fetch;
  const f = createHubFetch({ endpoint, token: "hf_secret", fetch: fake, ...fast });
  await assert.rejects(f(`${endpoint}/acme/m/resolve/main/config.json`), oneLine(/redirected from https to plain http \(cdn\.example\)/));
  const { redirectTarget } = await import("../../src/hub/redirect-rules.js");
  assert.throws(() => redirectTarget(new URL(`${endpoint}/x`), "http://cdn.example/obj", 0), oneLine(/from https to plain http/));
  assert.equal(redirectTarget(new URL("http://127.0.0.1:1/x"), "/y", 0).href, "http://127.0.0.1:1/y");
});

test("both layers: a redirect loop ends after a few hops with one line", async () => {
  const hub = await host((req, res) => {
    res.writeHead(302, { Location: req.url === "/a" ? "/b" : "/a" });
    res.end();
  });
  const f = createHubFetch({ endpoint: hub.origin, token: "", ...fast });
  const http = createRangeHttp({ endpoint: hub.origin, token: "", ...fast });
  try {
    await assert.rejects(f(`${hub.origin}/a`), oneLine(/too many redirects/));
    const n = hub.seen.length;
    assert.ok(n <= 6, `${n} requests`);
    await assert.rejects(http.open(`${hub.origin}/a`, 0, 4), oneLine(/too many redirects/));
    assert.ok(hub.seen.length - n <= 6);
  } finally {
    http.close();
    await hub.close();
  }
});
