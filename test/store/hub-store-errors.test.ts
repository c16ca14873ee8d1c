/**
 * What goes wrong reading a Hub repo, each one line with a stable code: a missing repo, a private one without or
 * with the wrong token, a gated one, a missing revision, rate limiting (waited out when the wait fits, else a line
 * saying when to retry), a server that keeps failing, range answers that do not match the range asked; and
 * HF_HUB_OFFLINE with and without a cached snapshot.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { TruecastError } from "../../src/errors.js";
import { openStore } from "../../src/store/open-store.js";
import { readWholeFile } from "../../src/store/store.js";
import { startHubDouble, type HubDouble } from "../support/hub-double.js";
import { hubEnv, repoFiles, seedRepo } from "./hub-repo-fixture.js";

/** Asserts one line with `code` whose text matches `re`, and that no token is in it. */
function oneLine(code: string, re: RegExp) {
  return (e: TruecastError) => {
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    assert.ok(!e.message.includes("\n"), "one line");
    assert.ok(!/hf_(read|write|wrong)/.test(e.message), "no token in the message");
    return true;
  };
}

async function withRepo(fn: (d: HubDouble) => Promise<void>): Promise<void> {
  const d = await startHubDouble();
  try {
    await seedRepo(d, "acme/public", repoFiles(1));
    await seedRepo(d, "acme/private", repoFiles(1), { private: true });
    await seedRepo(d, "acme/gated", repoFiles(1), { gated: ["acme"] });
    await fn(d);
  } finally {
    await d.stop();
  }
}

const fast = { retry: { baseDelayMs: 1, maxDelayMs: 2 } };

test("a missing repo, a private one without a token and with another account's, a bad token: one line each", async () => {
  await withRepo(async (d) => {
    await assert.rejects(openStore("hf://acme/nothing", { env: await hubEnv(d) }), oneLine("HUB_NOT_FOUND", /no model repo acme\/nothing on http:\/\/127\.0\.0\.1:\d+, or it is private \(HTTP 401, no token sent\); check the name, or set HF_TOKEN/));
    await assert.rejects(openStore("hf://acme/private", { env: await hubEnv(d) }), oneLine("HUB_NOT_FOUND", /acme\/private .*or it is private/));
    d.state.tokens.set("hf_other", { user: "bob", write: false });
    await assert.rejects(openStore("hf://acme/private", { env: await hubEnv(d, { HF_TOKEN: "hf_other" }) }), oneLine("HUB_NOT_FOUND", /no model repo acme\/private on .* that the token from HF_TOKEN can read \(HTTP 404\)/));
    await assert.rejects(openStore("hf://acme/public", { env: await hubEnv(d, { HF_TOKEN: "hf_wrong" }) }), oneLine("HUB_AUTH", /rejected the token from HF_TOKEN \(HTTP 401\)/));
  });
});

test("a missing revision, a gated repo's files without access, a file that is not in the repo: one line each", async () => {
  await withRepo(async (d) => {
    await assert.rejects(openStore("hf://acme/public@v9", { env: await hubEnv(d) }), oneLine("HUB_NOT_FOUND", /acme\/public has no revision "v9"/));
    const anon = await openStore("hf://acme/gated", { env: await hubEnv(d) });
    await assert.rejects(readWholeFile(anon, "config.json", 1 << 20), oneLine("HUB_FORBIDDEN", /hf:\/\/acme\/gated@main is gated and no token was sent \(HTTP 401\); accept its conditions at /));
    d.state.tokens.set("hf_other", { user: "bob", write: false });
    const bob = await openStore("hf://acme/gated", { env: await hubEnv(d, { HF_TOKEN: "hf_other" }) });
    await assert.rejects(readWholeFile(bob, "config.json", 1 << 20), oneLine("HUB_FORBIDDEN", /the token from HF_TOKEN has not been granted access \(HTTP 403\)/));
    const granted = await openStore("hf://acme/gated", { env: await hubEnv(d, { HF_TOKEN: "hf_read" }) });
    assert.match(Buffer.from(await readWholeFile(granted, "config.json", 1 << 20)).toString(), /llama/);
  });
});

test("branches, tags and refs/pr/N with '/' in them, written as is or %-escaped, pin the commit they point to", async () => {
  await withRepo(async (d) => {
    const repo = d.state.repos.get("acme/public");
    const main = repo?.refs.get("main") ?? "";
    const old = await d.state.seed("acme/public", { "config.json": Buffer.from("{\"v\": 2}") });
    const head = old.refs.get("main") ?? "";
    old.refs.set("refs/pr/1", main);
    old.refs.set("feature/x@y", main);
    for (const spec of ["hf://acme/public@refs/pr/1", "hf://acme/public@refs%2Fpr%2F1", "hf://acme/public@feature/x@y", `hf://acme/public@${main}`]) {
      const s = await openStore(spec, { env: await hubEnv(d) });
      assert.equal((s as unknown as { commit: string }).commit, main, spec);
      assert.match(Buffer.from(await readWholeFile(s, "config.json", 1 << 20)).toString(), /llama/, spec);
    }
    const s = await openStore("hf://acme/public", { env: await hubEnv(d) });
    assert.equal((s as unknown as { commit: string }).commit, head);
  });
});

test("429 with Retry-After, then success: waited as the server says, the bytes are right, the retry is counted", async () => {
  await withRepo(async (d) => {
    const waits: number[] = [];
    const sleep = async (ms: number) => void waits.push(ms);
    d.faults.add({ match: (r) => r.path.includes("/resolve/"), kind: "status", status: 429, retryAfter: 3, headers: { RateLimit: '"resolvers";r=0;t=3', "RateLimit-Policy": '"fixed window";"resolvers";q=3000;w=300' } });
    d.faults.add({ match: (r) => r.path.includes("/tree/"), kind: "status", status: 429, headers: { RateLimit: '"api";r=0;t=7', "RateLimit-Policy": '"fixed window";"api";q=500;w=300' } });
    const store = await openStore("hf://acme/public", { env: await hubEnv(d), sleep, ...fast });
    const files = repoFiles(1);
    assert.deepEqual(Buffer.from(await readWholeFile(store, "config.json", 1 << 20)), Buffer.from(files["config.json"] ?? []));
    assert.deepEqual(waits.sort((a, b) => a - b), [3000, 7000], "Retry-After on one, the RateLimit reset on the other");
    assert.equal(store.stats().requests, 5, "revision, tree twice, config.json twice");
  });
});

test("a rate limit longer than truecast waits: one line saying when to retry", async () => {
  await withRepo(async (d) => {
    d.faults.add({ match: (r) => r.path.includes("/revision/"), kind: "status", status: 429, headers: { RateLimit: '"api";r=0;t=240' }, times: 10 });
    const t0 = Date.now();
    await assert.rejects(openStore("hf://acme/public", { env: await hubEnv(d), ...fast }), oneLine("HUB_RATE_LIMITED", /rate-limiting requests \(HTTP 429\) while reading the revision of hf:\/\/acme\/public@main; run the same command again after \d\d:\d\d:\d\d UTC \(in 4 min\), or set HF_TOKEN/));
    assert.ok(Date.now() - t0 < 5000, "not waited");
    assert.equal(d.requests.length, 1, "not retried before the time the server named");
  });
});

test("a server that keeps failing: one line after the retries", async () => {
  await withRepo(async (d) => {
    d.faults.add({ match: (r) => r.path.includes("/tree/"), kind: "status", status: 503, times: 10 });
    const store = await openStore("hf://acme/public", { env: await hubEnv(d), ...fast, retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
    await assert.rejects(store.list(), oneLine("HUB_SERVER", /answered HTTP 503 while reading the file listing of hf:\/\/acme\/public@main, even after retries/));
    assert.equal(d.requests.filter((r) => r.path.includes("/tree/")).length, 3);
  });
});

test("range answers that are not the range asked for are refused, never used", async () => {
  await withRepo(async (d) => {
    const name = "model-00001-of-00001.safetensors";
    const store = await openStore("hf://acme/public", { env: await hubEnv(d), ...fast });
    const f = await store.open(name);
    const cases: Array<[string, (ctx: Parameters<NonNullable<Parameters<HubDouble["faults"]["add"]>[0]["respond"]>>[0]) => void, RegExp]> = [
      ["shifted", (c) => { c.res.writeHead(206, { "Content-Range": `bytes 1-262144/${f.size}` }); c.res.end(Buffer.alloc(262144)); }, /asked for bytes 0-262143, the answer says it holds "bytes 1-262144\//],
      ["other size", (c) => { c.res.writeHead(206, { "Content-Range": `bytes 0-262143/${f.size + 1}` }); c.res.end(Buffer.alloc(262144)); }, /the listing says the file has \d+ bytes/],
      ["ignored", (c) => { c.res.writeHead(200, { "Content-Length": String(f.size) }); c.res.end(Buffer.alloc(f.size)); }, /the server ignored the byte range \(HTTP 200 for bytes 0-262143/],
      ["too long", (c) => { c.res.writeHead(206, { "Content-Range": "bytes 0-262143/" + f.size }); c.res.end(Buffer.alloc(262200)); }, /more than the 262144 bytes asked for/],
    ];
    for (const [what, respond, re] of cases) {
      d.faults.clear();
      d.faults.add({ match: (r) => r.server === "storage", kind: "respond", respond });
      await assert.rejects(f.read(0, 8), oneLine("HUB_SERVER", re), what);
    }
  });
});

test("a whole small file sent with 200 for a ranged read gives the bytes asked for, the rest dropped", async () => {
  await withRepo(async (d) => {
    const config = Buffer.from(repoFiles(1)["config.json"] ?? []);
    const store = await openStore("hf://acme/public", { env: await hubEnv(d), ...fast });
    const f = await store.open("config.json");
    d.faults.add({ match: (r) => r.path.includes("/resolve/"), kind: "respond", times: 2, respond: (c) => { c.res.writeHead(200, { "Content-Length": String(config.length) }); c.res.end(config); } });
    for (const [start, length] of [[0, 5], [3, 7]] as const) {
      const parts: Buffer[] = [];
      for await (const c of f.chunks(start, length, 2)) parts.push(Buffer.from(c));
      assert.deepEqual(Buffer.concat(parts), config.subarray(start, start + length));
    }
  });
});

test("HF_HUB_OFFLINE: the cached snapshot is read without a request; without one, one line", async () => {
  const cache = await mkdtemp(join(tmpdir(), "tc-hf-cache-"));
  try {
    const commit = "c".repeat(40);
    const repo = join(cache, "models--acme--tiny");
    await mkdir(join(repo, "refs"), { recursive: true });
    await mkdir(join(repo, "blobs"));
    await mkdir(join(repo, "snapshots", commit), { recursive: true });
    await writeFile(join(repo, "refs", "main"), commit);
    const sha = "d".repeat(64);
    await writeFile(join(repo, "blobs", sha), "{\"model_type\": \"llama\"}");
    await symlink(join("..", "..", "blobs", sha), join(repo, "snapshots", commit, "config.json"));
    const noNetwork = (async () => { throw new Error("no request may be made offline"); }) as unknown as typeof fetch;
    const env = { HF_HUB_OFFLINE: "1", HF_HUB_CACHE: cache, HF_ENDPOINT: "http://127.0.0.1:9" };
    const store = await openStore("hf://acme/tiny", { env, fetch: noNetwork });
    assert.equal(store.label, "hf://acme/tiny@main");
    assert.equal(store.remote, false);
    assert.deepEqual(await store.list(), [{ path: "config.json", size: 23, sha256: sha }]);
    assert.equal(Buffer.from(await readWholeFile(store, "config.json", 100)).toString(), "{\"model_type\": \"llama\"}");
    assert.deepEqual(await (await openStore(`hf://acme/tiny@${commit}`, { env, fetch: noNetwork })).list(), [{ path: "config.json", size: 23, sha256: sha }]);
    await assert.rejects(openStore("hf://acme/tiny@v2", { env, fetch: noNetwork }), oneLine("HUB_OFFLINE", /HF_HUB_OFFLINE is set and the Hugging Face cache .* has no snapshot of acme\/tiny at v2; unset HF_HUB_OFFLINE/));
    await assert.rejects(openStore("hf://acme/other", { env, fetch: noNetwork }), { code: "HUB_OFFLINE" });
  } finally {
    await rm(cache, { recursive: true, force: true });
  }
});
