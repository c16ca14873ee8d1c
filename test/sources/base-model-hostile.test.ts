/**
 * The base-model download against a Hub that never answers, or that starts sending a file and stalls: both end
 * with one clear error within the deadline set by TRUECAST_HTTP_TIMEOUT_MS, and nothing half-downloaded is kept.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { join } from "node:path";
import { TruecastError } from "../../src/errors.js";
import { resolveBaseModelFiles } from "../../src/sources/base-model.js";
import { tempDir } from "../helpers.js";

const MODEL = "truecast-test/tiny";
const COMMIT = "c".repeat(40);
/** Big enough that its size-scaled ceiling (16 s) is far past the 400 ms idle limit. */
const SIZE = 4 * 1024 * 1024;

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; stop: () => Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  const port = typeof addr === "object" && addr !== null ? addr.port : 0;
  return { url: `http://127.0.0.1:${port}`, stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

const env = (cache: string, endpoint: string) => ({ HF_HUB_CACHE: cache, HF_ENDPOINT: endpoint, TRUECAST_HTTP_TIMEOUT_MS: "400" });

test("a Hub that never answers: the download gives up at the deadline with one clear error", { timeout: 20_000 }, async () => {
  const t = await tempDir();
  const hub = await serve((req) => void req.resume());
  try {
    await assert.rejects(resolveBaseModelFiles({ modelId: MODEL, want: ["config.json"], env: env(t.dir, hub.url) }), (e: unknown) => {
      assert.ok(e instanceof TruecastError, String(e));
      // Retried (hub-fetch) within its budget, then one line. The probe is a ranged GET, so its 400 ms is an idle
      // limit (no byte for 400 ms) rather than a total one; either way the limit is TRUECAST_HTTP_TIMEOUT_MS.
      assert.match(e.message, /GET to http:\/\/127\.0\.0\.1:\d+\/truecast-test\/tiny\/resolve\/main\/config\.json failed with a timeout \((?:not finished within|no progress for) 400 ms; TRUECAST_HTTP_TIMEOUT_MS sets the limit\) \d+ times/);
      return true;
    });
  } finally {
    await hub.stop();
    await t.cleanup();
  }
});

test("a file that starts and then stalls fails at the idle limit, and no partial blob is kept", { timeout: 20_000 }, async () => {
  const t = await tempDir();
  const hub = await serve((req, res) => {
    req.resume();
    const headers = { "X-Repo-Commit": COMMIT, ETag: '"0123456789abcdef"', "Accept-Ranges": "bytes" };
    if (req.headers.range === "bytes=0-0") {
      res.writeHead(206, { ...headers, "Content-Range": `bytes 0-0/${SIZE}`, "Content-Length": "1" });
      return void res.end("{");
    }
    // The bytes of the file: a first piece, then nothing (the connection stays open).
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
    const length = range ? Number(range[2]) - Number(range[1]) + 1 : SIZE;
    res.writeHead(range ? 206 : 200, { ...headers, "Content-Length": String(length), ...(range && { "Content-Range": `bytes ${range[1]}-${range[2]}/${SIZE}` }) });
    res.write("{" + " ".repeat(99));
  });
  try {
    await assert.rejects(resolveBaseModelFiles({ modelId: MODEL, want: ["config.json"], env: env(t.dir, hub.url) }), (e: unknown) => {
      assert.ok(e instanceof TruecastError, String(e));
      assert.match(e.message, /config\.json.*cut off: no progress for 400 ms \(TRUECAST_HTTP_TIMEOUT_MS|the answer to GET http:\/\/127\.0\.0\.1:\d+\/truecast-test\/tiny\/resolve\/c{40}\/config\.json was cut off: no progress for 400 ms/);
      return true;
    });
    const blobs = await readdir(join(t.dir, "models--truecast-test--tiny", "blobs")).catch(() => []);
    assert.deepEqual(blobs, [], "nothing half-downloaded is kept");
  } finally {
    await hub.stop();
    await t.cleanup();
  }
});
