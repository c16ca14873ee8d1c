/**
 * A publish hashes its first files over 10 MB (they go to LFS whatever the Hub says) from the moment the folder is
 * listed, while the Hub is asked about the token and the repository, instead of after those calls; and a file
 * written to after that early hash is still refused, never sent under the oid hashed before.
 *
 * The token check is held by an injected fetch until the events say the shard's hash is done (or, as a deadlock
 * breaker for code that hashes only after the check, 30 s), so the test reads an order, not a duration.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TruecastError } from "../../src/errors.js";
import type { PublishEvent } from "../../src/hub/events.js";
import { publishFolder } from "../../src/hub/publish-folder.js";
import { startHubDouble } from "../support/hub-double.js";
import { tempDir } from "../helpers.js";
import { writeModelFolder } from "./model-folder.js";

const SHARD = "model-00001-of-00002.safetensors";
const DEADLOCK_BREAKER_MS = 30_000;

/** A fetch that holds the token check until `ready()` or the deadlock breaker, then runs `then()` and answers it. */
function holdTokenCheck(ready: () => boolean, then: () => void): typeof fetch {
  return async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url.includes("/api/whoami")) {
      const until = Date.now() + DEADLOCK_BREAKER_MS;
      while (!ready() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      then();
    }
    return fetch(input, init);
  };
}

const hashDone = (events: PublishEvent[]) => events.some((e) => e.type === "file" && e.path === SHARD && e.state === "hashing" && e.bytes === e.total);

test("the first shard over 10 MB is hashed while the token is checked, and the publish is bit-exact", async () => {
  const d = await startHubDouble();
  const t = await tempDir();
  try {
    await writeModelFolder(t.dir, { rows: 800_000 });
    assert.ok(statSync(join(t.dir, SHARD)).size > 10_000_000);
    const events: PublishEvent[] = [];
    let hashedBeforeTokenAnswer = false;
    const report = await publishFolder({
      folder: t.dir, repoId: "acme/early", token: "hf_write", endpoint: d.url, sleep: async () => undefined, onProgress: (e) => events.push(e),
      fetch: holdTokenCheck(() => hashDone(events), () => (hashedBeforeTokenAnswer = hashDone(events))),
    });
    assert.ok(hashedBeforeTokenAnswer, "the shard's sha256 was done before the token check was answered");
    assert.equal(report.shardsBitExact, 2);
  } finally {
    await d.stop();
    await t.cleanup();
  }
});

test("a shard written to after its early hash is refused, not sent under the oid hashed before; nothing is committed", async () => {
  const d = await startHubDouble();
  const t = await tempDir();
  try {
    await writeModelFolder(t.dir, { rows: 800_000 });
    const path = join(t.dir, SHARD);
    const before = statSync(path);
    const events: PublishEvent[] = [];
    // Same file (inode), size and header, another last byte, written 10 s after the listing.
    const rewrite = () => {
      const bytes = readFileSync(path);
      bytes.writeUInt8((bytes.at(-1) ?? 0) ^ 1, bytes.length - 1);
      writeFileSync(path, bytes);
      utimesSync(path, before.atime, new Date(before.mtimeMs + 10_000));
    };
    let rewritten = false;
    const error = await publishFolder({
      folder: t.dir, repoId: "acme/early-changed", token: "hf_write", endpoint: d.url, sleep: async () => undefined, onProgress: (e) => events.push(e),
      fetch: holdTokenCheck(() => hashDone(events), () => {
        if (!hashDone(events) || rewritten) return;
        rewritten = true;
        rewrite();
      }),
    }).then(() => null, (e: unknown) => e);
    assert.ok(rewritten, "the shard was rewritten after its hash");
    assert.ok(error instanceof TruecastError, `expected a refusal, got ${String(error)}`);
    assert.equal(error.code, "VERIFY_FAILED");
    assert.match(error.message, new RegExp(SHARD));
    assert.equal(d.requests.filter((r) => r.method === "POST" && /\/commit\//.test(r.path) && r.status === 200).length, 0);
  } finally {
    await d.stop();
    await t.cleanup();
  }
});
