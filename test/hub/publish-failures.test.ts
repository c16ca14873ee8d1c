import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { publishFolder, type PublishFolderParams } from "../../src/hub/publish-folder.js";
import type { PublishEvent } from "../../src/hub/events.js";
import { TruecastError } from "../../src/errors.js";
import { startHubDouble, type HubDouble, type HubDoubleOptions } from "../support/hub-double.js";
import { tempDir } from "../helpers.js";
import { writeModelFolder } from "./model-folder.js";

const SECRET = "hf_TOPSECRETtoken0123456789";
const TOKENS = {
  [SECRET]: { user: "acme", write: true },
  hf_read: { user: "acme", write: false },
  hf_scoped: { user: "acme", write: false, role: "fineGrained" },
};

async function withFolder(fn: (d: HubDouble, dir: string) => Promise<void>, opts: HubDoubleOptions = {}): Promise<void> {
  const d = await startHubDouble({ tokens: TOKENS, ...opts });
  const t = await tempDir();
  try {
    await writeModelFolder(t.dir);
    await fn(d, t.dir);
  } finally {
    await d.stop();
    await t.cleanup();
  }
}

function base(d: HubDouble, dir: string, extra: Partial<PublishFolderParams> = {}): PublishFolderParams {
  return { folder: dir, repoId: "acme/model", token: SECRET, endpoint: d.url, sleep: async () => undefined, concurrency: 1, ...extra };
}

async function failure(p: Promise<unknown>): Promise<TruecastError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TruecastError, `expected a TruecastError, got ${String(e)}`);
    assert.ok(!e.message.includes("\n"), `one line: ${e.message}`);
    assert.ok(!e.message.includes(SECRET), "no token in the message");
    return e;
  }
  assert.fail("expected the publish to fail");
}

const puts = (d: HubDouble) => d.requests.filter((r) => r.method === "PUT");

test("an interrupted publish fails with HUB_NETWORK; the re-run sends only what the Hub lacks", async () => {
  await withFolder(async (d, dir) => {
    let n = 0;
    // Smallest first: shard 2 is PUT first, shard 1 second.
    d.faults.add({ match: (r) => r.method === "PUT" && ++n === 2, kind: "drop" });
    const e = await failure(publishFolder(base(d, dir, { retry: { maxAttempts: 1 } })));
    assert.equal(e.code, "HUB_NETWORK");
    assert.match(e.message, /^network error while uploading model-00001-of-00002\.safetensors: PUT to the storage host 127\.0\.0\.1:\d+ failed with (ECONNRESET|EPIPE) 1 time; check the connection/);
    assert.equal(d.requests.filter((r) => r.path.includes("/commit/")).length, 0, "no commit after a failed upload");
    const firstRun = puts(d).length;
    assert.equal(firstRun, 2);
    const stored = puts(d).find((r) => r.status === 200)?.path ?? "";
    const report = await publishFolder(base(d, dir));
    const rerun = puts(d).slice(firstRun);
    assert.equal(rerun.length, 1, "only the missing shard is sent again");
    assert.notEqual(rerun[0]?.path, stored);
    assert.equal(puts(d).filter((r) => r.path === stored).length, 1, "the stored object was PUT once in all");
    assert.deepEqual(report.files.filter((f) => f.lfs).map((f) => f.sent), [true, false], "shard 1 (the one dropped) sent again, shard 2 stored");
    assert.equal(d.requests.filter((r) => r.path.includes("/commit/") && r.status === 200).length, 1);
  });
});

test("when one upload fails, the uploads in flight are cancelled and the first error is the one reported", async () => {
  await withFolder(async (d, dir) => {
    let n = 0;
    // The slow upload would answer only after 20 s: a publish that waited for it instead of cancelling it would see
    // it succeed (status 200). No wall-clock assertion: the outcome of the slow request says what happened.
    d.faults.add({ match: (r) => r.method === "PUT" && ++n === 1, kind: "slow", delayMs: 20_000 });
    d.faults.add({ match: (r) => r.method === "PUT", kind: "drop" }); // faults are tried in order: this one gets the second PUT
    const e = await failure(publishFolder(base(d, dir, { concurrency: 3, retry: { maxAttempts: 1 } })));
    assert.equal(e.code, "HUB_NETWORK");
    assert.notEqual(puts(d)[0]?.status, 200, "the slow upload was cancelled, not waited for");
  });
});

test("5xx and dropped connections are retried, then the publish succeeds", async () => {
  await withFolder(async (d, dir) => {
    d.faults.add({ match: (r) => r.method === "PUT", kind: "status", status: 500, times: 2 });
    d.faults.add({ match: (r) => r.path.includes("/preupload/"), kind: "drop", times: 1 });
    d.faults.add({ match: (r) => r.path.includes("/commit/"), kind: "status", status: 503, times: 1 });
    d.faults.add({ match: (r) => r.path.endsWith("/objects/batch"), kind: "slow", delayMs: 50, times: 2 });
    const retries: PublishEvent[] = [];
    const report = await publishFolder(base(d, dir, { onProgress: (e) => e.type === "retry" && retries.push(e) }));
    assert.equal(report.shardsBitExact, 2);
    assert.deepEqual(retries.map((r) => r.type === "retry" && r.reason).sort(), ["HTTP 500", "HTTP 500", "HTTP 503", "UND_ERR_SOCKET"]);
    assert.equal(d.requests.filter((r) => r.path.includes("/commit/") && r.status === 200).length, 1);
    assert.deepEqual(d.requests.filter((r) => r.fault === "slow").map((r) => r.status), [200, 200], "slow answers are waited for");
  });
});

test("429 waits as long as Retry-After says", async () => {
  await withFolder(async (d, dir) => {
    d.faults.add({ match: (r) => r.path.includes("/preupload/"), kind: "status", status: 429, retryAfter: 7 });
    const waits: number[] = [];
    await publishFolder(base(d, dir, { sleep: async (ms) => void waits.push(ms) }));
    assert.deepEqual(waits, [7000]);
  });
});

test("5xx after the last retry is HUB_SERVER", async () => {
  await withFolder(async (d, dir) => {
    d.faults.add({ match: (r) => r.path.includes("/commit/"), kind: "status", status: 502, times: 3 });
    const e = await failure(publishFolder(base(d, dir, { retry: { maxAttempts: 3 } })));
    assert.equal(e.code, "HUB_SERVER");
    assert.match(e.message, /HTTP 502/);
    assert.equal(d.requests.filter((r) => r.path.includes("/commit/")).length, 3);
  });
});

test("network down after retries is HUB_NETWORK", async () => {
  await withFolder(async (d, dir) => {
    const url = d.url;
    await d.stop();
    const e = await failure(publishFolder({ ...base(d, dir), endpoint: url, retry: { maxAttempts: 2 } }));
    assert.equal(e.code, "HUB_NETWORK");
    assert.match(e.message, /ECONNREFUSED/);
  });
});

test("an unknown token is HUB_AUTH and is not echoed", async () => {
  await withFolder(async (d, dir) => {
    const e = await failure(publishFolder({ ...base(d, dir), token: "hf_WRONGsecret999" }));
    assert.equal(e.code, "HUB_AUTH");
    assert.ok(!e.message.includes("hf_WRONGsecret999"));
  });
});

test("a read-only token is HUB_FORBIDDEN before any repo is touched", async () => {
  await withFolder(async (d, dir) => {
    const e = await failure(publishFolder({ ...base(d, dir), token: "hf_read" }));
    assert.equal(e.code, "HUB_FORBIDDEN");
    assert.match(e.message, /read-only.*acme\/model/);
    assert.deepEqual(d.requests.map((r) => r.path), ["/api/whoami-v2"]);
  });
});

test("a token without write rights gets HUB_FORBIDDEN from the Hub's 403, for a new repo and for an existing one", async () => {
  await withFolder(async (d, dir) => {
    const e = await failure(publishFolder({ ...base(d, dir), token: "hf_scoped" }));
    assert.equal(e.code, "HUB_FORBIDDEN");
    assert.match(e.message, /no write access to acme\/model \(HTTP 403\) while preparing/);
    assert.equal(d.state.repos.size, 0);
    d.state.createRepo("acme/model", true);
    const e2 = await failure(publishFolder({ ...base(d, dir), token: "hf_scoped" }));
    assert.equal(e2.code, "HUB_FORBIDDEN");
    assert.match(e2.message, /no write access to acme\/model \(HTTP 403\) while uploading/);
    assert.equal(d.state.repos.get("acme/model")?.commits.size, 1, "nothing committed");
  });
});

test("an invalid repo id is HUB_REPO_ID before any request", async () => {
  await withFolder(async (d, dir) => {
    for (const id of ["model", "acme/my model", "acme/-x", "a/b/c", "acme/x..y", "acme/x.git"]) {
      const e = await failure(publishFolder({ ...base(d, dir), repoId: id }));
      assert.equal(e.code, "HUB_REPO_ID", id);
    }
    assert.equal(d.requests.length, 0);
  });
});

test("the token is in no event, report or log, and only the endpoint's origin receives Authorization", async () => {
  await withFolder(async (d, dir) => {
    const events: PublishEvent[] = [];
    d.faults.add({ match: (r) => r.method === "PUT", kind: "status", status: 500 });
    const report = await publishFolder(base(d, dir, { onProgress: (e) => events.push(e) }));
    const all = JSON.stringify({ report, events, requests: d.requests });
    assert.ok(!all.includes(SECRET));
    const storage = d.requests.filter((r) => r.server === "storage");
    assert.ok(storage.some((r) => r.method === "GET"), "resolve redirected LFS reads to the storage host");
    assert.ok(storage.some((r) => r.method === "PUT"));
    assert.ok(storage.every((r) => r.headers.authorization === undefined), "no Authorization to another origin");
    assert.ok(d.requests.filter((r) => r.server === "hub").every((r) => r.headers.authorization === "<present>"));
  });
});

test("remote verification catches a tampered header and a wrong sha256 (HUB_VERIFY)", async () => {
  for (const kind of ["byte", "oid"] as const) {
    await withFolder(async (d, dir) => {
      const e = await failure(
        publishFolder(base(d, dir, {
          onProgress: (ev) => {
            if (ev.type === "phase" && ev.phase === "verifying") {
              d.state.tamper(kind === "byte" ? { repo: "acme/model", path: "model-00001-of-00002.safetensors", kind, offset: 30 } : { repo: "acme/model", path: "model-00002-of-00002.safetensors", kind });
            }
          },
        })),
      );
      assert.equal(e.code, "HUB_VERIFY", kind);
      assert.match(e.message, kind === "byte" ? /model-00001-of-00002\.safetensors/ : /model-00002-of-00002\.safetensors has sha256/);
    });
  }
});

test("a folder whose config.json lies about the dtype is refused unless forced, and the report records it", async () => {
  await withFolder(async (d, dir) => {
    const config = JSON.stringify({ torch_dtype: "float16", dtype: "float16" });
    await writeFile(join(dir, "config.json"), config);
    const e = await failure(publishFolder(base(d, dir)));
    assert.equal(e.code, "PUBLISH_REFUSED");
    assert.match(e.message, /config\.json: "torch_dtype" says float16 but the tensors are mostly bfloat16.*--force/);
    assert.equal(d.requests.length, 0);
    const report = await publishFolder(base(d, dir, { force: true }));
    assert.equal(report.forced, true);
    assert.equal(report.problems.length, 2);
    assert.match(report.summary, /forced past 2 problems/);
  });
});

test("a damaged shard is refused before upload", async () => {
  await withFolder(async (d, dir) => {
    await writeFile(join(dir, "model-00002-of-00002.safetensors"), Buffer.from([1, 2, 3]));
    const e = await failure(publishFolder(base(d, dir)));
    assert.equal(e.code, "PUBLISH_REFUSED");
    assert.match(e.message, /model-00002-of-00002\.safetensors/);
  });
});
