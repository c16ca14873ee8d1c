/**
 * hub-fetch's clocks with a fake fetch that reads the upload body at a chosen pace: an upload that keeps moving
 * outlives the per-request timeout, one that stalls fails after the idle limit; a Retry-After past the budget is
 * not waited for.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHubFetch, HubNetworkError } from "../../src/hub/hub-fetch.js";

const ENDPOINT = "https://hub.example";

/** A fetch that pulls the body one chunk every `paceMs` (never, when null), honouring the abort signal. */
function pacedFetch(paceMs: number | null): typeof fetch {
  return (async (_input: string | URL | Request, init?: RequestInit) => {
    const signal = init?.signal;
    const aborted = new Promise<never>((_, reject) => {
      if (signal?.aborted) reject(signal.reason);
      signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
    aborted.catch(() => undefined);
    // As a real socket would, the pending request keeps the process alive (hub-fetch's own timers do not).
    const alive = setInterval(() => undefined, 1000);
    aborted.catch(() => clearInterval(alive));
    if (paceMs === null) return aborted;
    clearInterval(alive);
    const reader = (init?.body as Blob).stream().getReader();
    for (;;) {
      const r = await Promise.race([reader.read(), aborted]);
      if (r.done) break;
      await Promise.race([new Promise((ok) => setTimeout(ok, paceMs)), aborted]);
    }
    return new Response("{}");
  }) as typeof fetch;
}

/** A Blob of `chunks` chunks, streamed one at a time. */
function chunkedBlob(chunks: number): Blob {
  return new Blob(Array.from({ length: chunks }, () => new Uint8Array(1024 * 1024)));
}

test("an upload that keeps moving may take longer than the request timeout; a stalled one fails at the idle limit", { timeout: 20_000 }, async () => {
  const timeouts = { requestTimeoutMs: 400, retryBudgetMs: 400 };
  // 12 chunks at 60 ms each: over 700 ms in all, each gap well under the 400 ms idle limit.
  const moving = createHubFetch({ endpoint: ENDPOINT, token: "hf_x", fetch: pacedFetch(60), timeouts, retry: { maxAttempts: 1 } });
  const started = Date.now();
  const res = await moving("https://storage.example/put", { method: "PUT", body: chunkedBlob(12) });
  assert.equal(res.status, 200);
  assert.ok(Date.now() - started > timeouts.requestTimeoutMs, "it outlived the per-request timeout");

  const stalled = createHubFetch({ endpoint: ENDPOINT, token: "hf_x", fetch: pacedFetch(null), timeouts, retry: { maxAttempts: 1 } });
  await assert.rejects(stalled("https://storage.example/put", { method: "PUT", body: chunkedBlob(8) }), (e: unknown) => {
    assert.ok(e instanceof HubNetworkError);
    assert.equal(e.message, "PUT to the storage host storage.example failed with a timeout (no progress for 400 ms; TRUECAST_HTTP_TIMEOUT_MS sets the limit) 1 time");
    return true;
  });
});

test("a Retry-After longer than what is left of the budget is not waited for: the answer goes back as it is", async () => {
  let calls = 0;
  const busy = (async () => {
    calls++;
    return new Response("{}", { status: 429, headers: { "Retry-After": "60" } });
  }) as typeof fetch;
  const waits: number[] = [];
  const f = createHubFetch({ endpoint: ENDPOINT, token: "hf_x", fetch: busy, timeouts: { requestTimeoutMs: 1000, retryBudgetMs: 30_000 }, sleep: async (ms) => void waits.push(ms) });
  const res = await f(`${ENDPOINT}/api/whoami-v2`);
  assert.equal(res.status, 429);
  assert.equal(calls, 1);
  assert.deepEqual(waits, []);
});
