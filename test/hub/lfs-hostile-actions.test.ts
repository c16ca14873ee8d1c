/**
 * Hostile LFS batch answers (lfs-upload.ts, lfs-action.ts): upload, part, completion and verify URLs that are not
 * http(s) or drop https, verify headers that would split a request or set the transport's or the token's headers,
 * and a multipart answer with more parts than any storage takes. Each is refused with one HUB_SERVER line before a
 * byte is sent, or (headers the action may not set) dropped; and a `file:` upload URL is not retried as a network error.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { TruecastError } from "../../src/errors.js";
import { lfsBatch, type LfsCall } from "../../src/hub/lfs-upload.js";
import { parseRepoId } from "../../src/hub/repo-id.js";
import { createUploadSession } from "../../src/hub/upload-session.js";
import { startHubDouble } from "../support/hub-double.js";
import { tempDir } from "../helpers.js";

const OID = "a".repeat(64);

/** lfsBatch against a fetch that answers the batch call with `upload` (and `verify`) as the action. */
function call(endpoint: string, actions: Record<string, unknown>, size = 100): LfsCall & { oid: string; size: number } {
  const fake = (async () => new Response(JSON.stringify({ objects: [{ oid: OID, size, actions }] }), { status: 200, headers: { "Content-Type": "application/vnd.git-lfs+json" } })) as typeof fetch;
  return {
    target: { endpoint, repo: parseRepoId("acme/m"), fetch: fake },
    fetch: fake, revision: "main", createPr: false, pathInRepo: "model.safetensors", oid: OID, size,
  };
}

const refused = (re: RegExp) => (e: unknown) => {
  assert.ok(e instanceof TruecastError, String(e));
  assert.equal(e.code, "HUB_SERVER");
  assert.match(e.message, /^the Hub's answer to the LFS batch call for model\.safetensors /);
  assert.match(e.message, re);
  assert.ok(!e.message.includes("\n"));
  return true;
};

const HTTPS = "https://hub.example";

test("upload, part, completion and verify URLs that are not http(s), or plain http under an https Hub, are refused", async () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ["file upload", { upload: { href: "file:///etc/passwd" } }, /file: URL/],
    ["http upload", { upload: { href: "http://storage.example/put" } }, /plain http URL on storage\.example/],
    ["odd scheme", { upload: { href: "gopher://storage.example/put" } }, /gopher: URL/],
    ["part", { upload: { href: "https://storage.example/complete", header: { chunk_size: "60", "00001": "https://s.example/1", "00002": "ftp://s.example/2" } } }, /ftp: URL/],
    ["completion", { upload: { href: "http://storage.example/complete", header: { chunk_size: "60", "00001": "https://s.example/1", "00002": "https://s.example/2" } } }, /plain http URL/],
    ["verify", { upload: { href: "https://storage.example/put" }, verify: { href: "javascript:alert(1)" } }, /javascript: URL/],
    ["unreadable", { upload: { href: "https://[::1" } }, /unreadable URL/],
  ];
  for (const [what, actions, re] of cases) await assert.rejects(lfsBatch(call(HTTPS, actions)), refused(re), what);
  // A plain http endpoint (a local Hub) may send to plain http storage.
  assert.equal((await lfsBatch(call("http://127.0.0.1:1", { upload: { href: "http://127.0.0.1:2/put" } })))?.href, "http://127.0.0.1:2/put");
});

test("verify headers: CR/LF or a bad name is refused; Host, Authorization, Cookie and the transport's headers are dropped", async () => {
  const upload = { href: "https://storage.example/put" };
  for (const header of [{ "X-A": "1\r\nAuthorization: Bearer x" }, { "X-A": "a\u0000b" }, { "Bad Name": "1" }]) {
    await assert.rejects(lfsBatch(call(HTTPS, { upload, verify: { href: `${HTTPS}/verify`, header } })), refused(/header/));
  }
  const action = await lfsBatch(call(HTTPS, {
    upload,
    verify: { href: `${HTTPS}/verify`, header: { Host: "evil.example", Authorization: "Bearer stolen", Cookie: "c=1", "Content-Length": "0", "Transfer-Encoding": "chunked", "X-Verify-Token": "v1" } },
  }));
  assert.deepEqual(action?.verify?.header, { "x-verify-token": "v1" });
});

test("a multipart answer with more parts than storage takes is refused before a part is sent", async () => {
  const size = 10_001;
  const header: Record<string, string> = { chunk_size: "1" };
  for (let i = 1; i <= size; i++) header[String(i).padStart(5, "0")] = `https://s.example/${i}`;
  await assert.rejects(lfsBatch(call(HTTPS, { upload: { href: "https://storage.example/complete", header } }, size)), refused(/10001 parts, more than 10000/));
});

test("a file: upload URL from the Hub fails at once with one line: nothing sent, no retries", async () => {
  const d = await startHubDouble({ tokens: { hf_w: { user: "acme", write: true } } });
  const t = await tempDir();
  try {
    await writeFile(join(t.dir, "m.safetensors"), Buffer.alloc(1000, 7));
    const rewrite = (async (input: string | URL | Request, init: RequestInit = {}) => {
      const res = await fetch(input, init);
      if (!String(input).endsWith("/objects/batch")) return res;
      const json = (await res.json()) as { objects: Array<{ actions?: { upload?: { href: string } } }> };
      const up = json.objects[0]?.actions?.upload;
      if (up) up.href = "file:///tmp/truecast-stolen";
      return new Response(JSON.stringify(json), { status: res.status, headers: res.headers });
    }) as typeof fetch;
    let batches = 0;
    const counting = (async (input: string | URL | Request, init?: RequestInit) => {
      if (String(input).endsWith("/objects/batch")) batches++;
      return rewrite(input, init);
    }) as typeof fetch;
    const s = await createUploadSession({ repoId: "acme/lfs", token: "hf_w", endpoint: d.url, sleep: async () => undefined, fetch: counting });
    await assert.rejects(s.uploadFile(join(t.dir, "m.safetensors"), "m.safetensors"), (e: unknown) => e instanceof TruecastError && e.code === "HUB_SERVER" && /file: URL/.test(e.message));
    assert.equal(batches, 1);
    assert.equal(d.requests.filter((r) => r.method === "PUT").length, 0);
  } finally {
    await d.stop();
    await t.cleanup();
  }
});
