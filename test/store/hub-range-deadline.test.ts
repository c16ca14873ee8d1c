/**
 * A ranged read whose answer takes longer than one request timeout but keeps moving finishes (its deadline scales
 * with the range, as an upload's does); one that stalls fails at the idle limit with one line.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { openStore } from "../../src/store/open-store.js";
import { randomBytes } from "../support/build-model.js";
import { startHubDouble, type DoubleContext } from "../support/hub-double.js";
import { hubEnv } from "./hub-repo-fixture.js";

/** A 206 for `bytes` sent in `pieces` pieces `everyMs` apart, stopping (without ending) after `stopAfter` pieces. */
function trickleRange(bytes: Uint8Array, pieces: number, everyMs: number, stopAfter = Infinity) {
  return (ctx: DoubleContext): void => {
    const m = (ctx.req.headers.range ?? "").match(/^bytes=(\d+)-(\d+)$/);
    const start = Number(m?.[1]);
    const end = Number(m?.[2]);
    const body = bytes.subarray(start, end + 1);
    ctx.res.writeHead(206, { "Content-Range": `bytes ${start}-${end}/${bytes.length}`, "Content-Length": String(body.length) });
    ctx.res.flushHeaders();
    const step = Math.ceil(body.length / pieces);
    let i = 0;
    const t = setInterval(() => {
      if (ctx.res.destroyed || i >= stopAfter) return clearInterval(t);
      ctx.res.write(body.subarray(i * step, (i + 1) * step));
      if (++i * step >= body.length) {
        clearInterval(t);
        ctx.res.end();
      }
    }, everyMs);
    ctx.res.on("close", () => clearInterval(t));
  };
}

test("a slow but moving range outlives the request timeout; a stalled one fails at the idle limit", async () => {
  const d = await startHubDouble();
  try {
    const bytes = randomBytes(1024 * 1024, 5);
    await d.state.seed("acme/slow", { "model.safetensors": bytes });
    const env = await hubEnv(d);
    const opts = { env, timeouts: { requestTimeoutMs: 800, retryBudgetMs: 5000 }, retry: { maxAttempts: 1 } };
    const store = await openStore("hf://acme/slow", opts);
    const f = await store.open("model.safetensors");
    d.faults.add({ match: (r) => r.server === "storage", kind: "respond", respond: trickleRange(bytes, 8, 250) });
    const t0 = Date.now();
    const parts: Uint8Array[] = [];
    for await (const c of f.chunks(0, bytes.length, 256 * 1024)) parts.push(c);
    assert.ok(Date.now() - t0 > 1600, "took longer than two request timeouts");
    assert.deepEqual(Buffer.concat(parts), Buffer.from(bytes));
    d.faults.add({ match: (r) => r.server === "storage", kind: "respond", respond: trickleRange(bytes, 10, 50, 2), times: 10 });
    await assert.rejects(async () => {
      for await (const _ of f.chunks(0, bytes.length, 256 * 1024)) void _;
    }, (e: Error & { code?: string }) => e.code === "HUB_NETWORK" && /no progress for 800 ms/.test(e.message) && !e.message.includes("\n"));
  } finally {
    await d.stop();
  }
});
