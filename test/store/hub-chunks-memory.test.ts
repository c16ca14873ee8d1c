/**
 * Streaming a large remote range holds a bounded number of bytes: with a consumer slower than the network, the
 * live ArrayBuffer memory (measured after a forced GC, the Hub double in the same process included) stays under
 * 16 MB while 40 MB go through, so nothing buffers the range, and nothing is written to disk.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { MAX_REMOTE_CHUNK } from "../../src/store/hub-file.js";
import { openStore } from "../../src/store/open-store.js";
import { randomBytes } from "../support/build-model.js";
import { startHubDouble } from "../support/hub-double.js";
import { hubEnv } from "./hub-repo-fixture.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const MB = 1024 * 1024;
/** Twice what Node's fetch and the double keep in flight at most (~12 MB, whatever the size), so buffering shows. */
const SIZE = 40 * MB;

test("chunks of a 40 MB remote file stream with bounded memory and are bit-identical", async () => {
  const d = await startHubDouble();
  try {
    const bytes = randomBytes(SIZE, 11);
    await d.state.seed("acme/big", { "model.safetensors": bytes });
    const store = await openStore("hf://acme/big", { env: await hubEnv(d) });
    const f = await store.open("model.safetensors");
    gc();
    const base = process.memoryUsage().arrayBuffers;
    let peak = 0;
    let n = 0;
    const hash = createHash("sha256");
    for await (const c of f.chunks(0, f.size, MB)) {
      hash.update(c);
      // Slower than the loopback: the transfer would run ahead here if anything buffered it.
      await new Promise((r) => setTimeout(r, 10));
      if (++n % 2 === 0) {
        gc();
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
      }
    }
    assert.equal(n, SIZE / MB);
    assert.equal(hash.digest("hex"), createHash("sha256").update(bytes).digest("hex"));
    assert.ok(peak < 16 * MB, `a bounded few MB in flight (Node's fetch buffers up to ~7 MB, the in-process double as much), measured ${(peak / MB).toFixed(1)} MB`);
    assert.equal(store.stats().requests, 3, "revision, tree, and one ranged GET for the whole stream");
    assert.ok(store.stats().bytesRead >= SIZE && store.stats().bytesRead < SIZE + 64 * 1024);
  } finally {
    await d.stop();
  }
});

test("a remote stream yields chunks of at most MAX_REMOTE_CHUNK (2 MiB), whatever size the reader asks for", async () => {
  const d = await startHubDouble();
  try {
    const size = 5 * MB + 3;
    const bytes = randomBytes(size, 12);
    await d.state.seed("acme/chunky", { "model.safetensors": bytes });
    const store = await openStore("hf://acme/chunky", { env: await hubEnv(d) });
    const f = await store.open("model.safetensors");
    const sizes: number[] = [];
    const hash = createHash("sha256");
    for await (const c of f.chunks(0, f.size, 8 * MB)) {
      sizes.push(c.byteLength);
      hash.update(c);
    }
    assert.equal(MAX_REMOTE_CHUNK, 2 * MB);
    assert.deepEqual(sizes, [2 * MB, 2 * MB, MB + 3]);
    assert.equal(hash.digest("hex"), createHash("sha256").update(bytes).digest("hex"));
    await store.close();
  } finally {
    await d.stop();
  }
});
