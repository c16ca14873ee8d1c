import { test } from "node:test";
import assert from "node:assert/strict";
import { createHubFetch, CLIENT_TOKEN_PLACEHOLDER, HubNetworkError } from "../../src/hub/hub-fetch.js";
import { parseRetryAfter, retryDelayMs, DEFAULT_RETRY } from "../../src/hub/retry.js";

interface Seen {
  url: string;
  method: string;
  auth: string | null;
  redirect: RequestInit["redirect"];
}

function fakeFetch(answer: (url: URL, n: number) => Response | Error): { fetch: typeof fetch; seen: Seen[] } {
  const seen: Seen[] = [];
  const f = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input));
    const headers = new Headers(init?.headers);
    if (init?.body instanceof Object && "stream" in init.body) {
      // drain a Blob-like body the way fetch would, so byte counting runs
      const reader = (init.body as Blob).stream().getReader();
      while (!(await reader.read()).done);
    }
    seen.push({ url: url.href, method: init?.method ?? "GET", auth: headers.get("authorization"), redirect: init?.redirect });
    const a = answer(url, seen.length);
    if (a instanceof Error) throw a;
    return a;
  };
  return { fetch: f as typeof fetch, seen };
}

const ENDPOINT = "https://hub.example";

test("the token goes to the endpoint's origin only, replacing the client's placeholder", async () => {
  const { fetch, seen } = fakeFetch(() => new Response("{}"));
  const f = createHubFetch({ endpoint: ENDPOINT, token: "hf_real", fetch });
  await f(`${ENDPOINT}/api/whoami-v2`, { headers: { Authorization: `Bearer ${CLIENT_TOKEN_PLACEHOLDER}` } });
  await f("https://storage.example/put", { method: "PUT", body: "x", headers: { Authorization: "Bearer hf_real" } });
  await f("https://hub.example.evil.com/api", { headers: { Authorization: `Bearer ${CLIENT_TOKEN_PLACEHOLDER}` } });
  assert.deepEqual(seen.map((s) => s.auth), ["Bearer hf_real", null, null]);
  assert.deepEqual(seen.map((s) => s.redirect), ["manual", "manual", "manual"], "fetch never follows redirects itself");
  await f("https://storage.example/put", { method: "PUT", body: new Blob(["abc"]) });
  assert.equal(seen.at(-1)?.redirect, "error", "a Blob body is sent with redirect: error, the only mode in which Node's fetch streams it");
});

test("a redirect to another origin is followed without Authorization", async () => {
  const { fetch, seen } = fakeFetch((url) =>
    url.origin === ENDPOINT ? new Response(null, { status: 302, headers: { Location: "https://cdn.example/obj?sig=1" } }) : new Response("data"),
  );
  const f = createHubFetch({ endpoint: ENDPOINT, token: "hf_real", fetch });
  const res = await f(`${ENDPOINT}/acme/m/resolve/main/model.safetensors`);
  assert.equal(await res.text(), "data");
  assert.deepEqual(seen.map((s) => [s.url, s.auth]), [
    [`${ENDPOINT}/acme/m/resolve/main/model.safetensors`, "Bearer hf_real"],
    ["https://cdn.example/obj?sig=1", null],
  ]);
});

test("redirect: manual hands back the Hub's own redirect (its headers name the commit), after retrying a 503", async () => {
  const { fetch, seen } = fakeFetch((_url, n) =>
    n === 1
      ? new Response(null, { status: 503 })
      : new Response(null, { status: 302, headers: { Location: "https://cdn.example/obj", "X-Repo-Commit": "c".repeat(40) } }),
  );
  const f = createHubFetch({ endpoint: ENDPOINT, token: "hf_real", fetch, sleep: async () => undefined });
  const res = await f(`${ENDPOINT}/acme/m/resolve/main/model.safetensors`, { method: "HEAD", redirect: "manual" });
  assert.equal(res.status, 302);
  assert.equal(res.headers.get("x-repo-commit"), "c".repeat(40));
  assert.deepEqual(seen.map((s) => [s.method, s.url, s.auth]), [
    ["HEAD", `${ENDPOINT}/acme/m/resolve/main/model.safetensors`, "Bearer hf_real"],
    ["HEAD", `${ENDPOINT}/acme/m/resolve/main/model.safetensors`, "Bearer hf_real"],
  ], "retried once, and the storage host is not asked");
});

test("retries replay a Blob body and take back the bytes of the failed attempt", async () => {
  const { fetch, seen } = fakeFetch((_u, n) => (n === 1 ? new Response("busy", { status: 503 }) : n === 2 ? new TypeError("fetch failed") : new Response("ok")));
  let bytes = 0;
  const delays: number[] = [];
  const f = createHubFetch({ endpoint: ENDPOINT, token: "hf_real", fetch, sleep: async (ms) => void delays.push(ms), hooks: { onBodyBytes: (d) => (bytes += d) } });
  const res = await f("https://storage.example/put", { method: "PUT", body: new Blob([new Uint8Array(1000)]) });
  assert.equal(res.status, 200);
  assert.equal(seen.length, 3);
  assert.equal(bytes, 1000);
  assert.equal(delays.length, 2);
});

test("a stream body cannot be replayed, so it is not retried", async () => {
  const { fetch, seen } = fakeFetch(() => new Response("busy", { status: 503 }));
  const f = createHubFetch({ endpoint: ENDPOINT, token: "hf_real", fetch, sleep: async () => undefined });
  const res = await f(`${ENDPOINT}/x`, { method: "POST", body: new ReadableStream(), duplex: "half" } as RequestInit);
  assert.equal(res.status, 503);
  assert.equal(seen.length, 1);
});

test("network failures on every attempt end in HubNetworkError naming the host, not the token", async () => {
  const { fetch, seen } = fakeFetch(() => Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNRESET" } }));
  const f = createHubFetch({ endpoint: ENDPOINT, token: "hf_real", fetch, retry: { maxAttempts: 3 }, sleep: async () => undefined });
  await assert.rejects(f("https://storage.example/lfs/abc", { method: "PUT", body: "x" }), (e: unknown) => {
    assert.ok(e instanceof HubNetworkError);
    assert.equal(e.code, "HUB_NETWORK");
    assert.equal(e.message, "PUT to the storage host storage.example failed with ECONNRESET 3 times");
    return true;
  });
  assert.equal(seen.length, 3);
});

test("Retry-After: seconds or an HTTP date; backoff grows and stays under its ceiling", () => {
  assert.equal(parseRetryAfter("7"), 7000);
  assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:28:10 GMT", Date.parse("Wed, 21 Oct 2015 07:28:00 GMT")), 10_000);
  assert.equal(parseRetryAfter("soon"), null);
  assert.equal(parseRetryAfter(null), null);
  assert.equal(retryDelayMs(DEFAULT_RETRY, 1, 7000), 7000);
  assert.equal(retryDelayMs(DEFAULT_RETRY, 1, 10 * 60_000), DEFAULT_RETRY.maxRetryAfterMs);
  assert.equal(retryDelayMs(DEFAULT_RETRY, 3, null, () => 1), 2000);
  assert.equal(retryDelayMs(DEFAULT_RETRY, 30, null, () => 1), DEFAULT_RETRY.maxDelayMs);
  assert.equal(retryDelayMs(DEFAULT_RETRY, 3, null, () => 0), 0);
});

test("429: the RateLimit reset is waited when there is no Retry-After; a wait past maxRetryAfterMs is handed back", async () => {
  const waits: number[] = [];
  const { fetch, seen } = fakeFetch((_u, n) => (n === 1 ? new Response("{}", { status: 429, headers: { RateLimit: '"api";r=0;t=9' } }) : new Response("{}")));
  const f = createHubFetch({ endpoint: ENDPOINT, token: "hf_x", fetch, sleep: async (ms) => void waits.push(ms) });
  assert.equal((await f(`${ENDPOINT}/api/x`)).status, 200);
  assert.deepEqual(waits, [9000]);
  assert.equal(seen.length, 2);
  const long = fakeFetch(() => new Response("{}", { status: 429, headers: { "Retry-After": "600" } }));
  const g = createHubFetch({ endpoint: ENDPOINT, token: "hf_x", fetch: long.fetch, sleep: async (ms) => void waits.push(ms) });
  const res = await g(`${ENDPOINT}/api/x`);
  assert.equal(res.status, 429, "the caller gets the answer, to say when to retry");
  assert.equal(res.headers.get("retry-after"), "600");
  assert.equal(long.seen.length, 1, "no retry before the server's time");
});

test("no token: no Authorization header at all, on any origin", async () => {
  const { fetch, seen } = fakeFetch(() => new Response("{}"));
  const f = createHubFetch({ endpoint: ENDPOINT, fetch });
  await f(`${ENDPOINT}/api/models/a/b`, { headers: { Authorization: "Bearer leaked" } });
  assert.deepEqual(seen.map((s) => s.auth), [null]);
});
