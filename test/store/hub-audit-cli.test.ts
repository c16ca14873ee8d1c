/**
 * `truecast audit hf://...` against the Hub double: a 30-shard repo audited from headers alone in 34 requests
 * (revision, tree, config.json, index, the model card, one per shard), values streamed by ranges with --values, and a missing repo
 * as one line.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { cli } from "../support/cli.js";
import { startHubDouble } from "../support/hub-double.js";
import { hubEnv, repoFiles, seedRepo } from "./hub-repo-fixture.js";

test("audit of a remote 30-shard repo from headers alone takes 35 requests (issue 11's target: at most 35)", async () => {
  const d = await startHubDouble();
  try {
    await seedRepo(d, "acme/thirty", repoFiles(30, 40, 4 * 1024));
    const env = await hubEnv(d);
    const human = await cli(["audit", "hf://acme/thirty"], { env });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^PASS: hf:\/\/acme\/thirty@main: intact/);
    assert.match(human.stdout, /30 weight files .* headers only · 35 requests/);
    const resolved = d.requests.filter((r) => r.server === "hub" && r.path.includes("/resolve/")).map((r) => r.path.split("/").at(-1));
    assert.deepEqual(resolved.filter((p) => !p?.endsWith(".safetensors")).sort(), ["README.md", "config.json", "model.safetensors.index.json"]);
    assert.equal(resolved.length, 33);
    const json = await cli(["audit", "hf://acme/thirty", "--json"], { env });
    const report = JSON.parse(json.stdout) as { requests: number; remote: boolean; source?: string };
    assert.equal(report.requests, 35, "revision, tree, config.json, index, README.md (the card), one per shard");
    assert.equal(report.remote, true);
    const values = await cli(["audit", "hf://acme/thirty", "--values", "--json"], { env });
    const scanned = JSON.parse(values.stdout) as { requests: number; bytesRead: number; valuesScanned: boolean };
    const files = repoFiles(30, 40, 4 * 1024);
    const total = Object.values(files).reduce((n, b) => n + b.byteLength, 0);
    assert.equal(values.code, 0, values.stderr);
    assert.equal(scanned.valuesScanned, true);
    // Every value once by ranges (tensors inside a shard's cached first block, or starting in it, are not asked
    // for again), never twice.
    // (bytesRead also counts the API's JSON answers: the revision and the tree.)
    assert.ok(scanned.bytesRead >= total - 1024 && scanned.bytesRead <= total + 64 * 1024, `${scanned.bytesRead} bytes of ${total}`);
    assert.ok(scanned.requests < 35 + 1200, `${scanned.requests} requests`);
    const missing = await cli(["audit", "hf://acme/none"], { env });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^truecast: no model repo acme\/none on http:\/\/127\.0\.0\.1:\d+, or it is private/);
    assert.equal(missing.stderr.trim().split("\n").length, 1);
  } finally {
    await d.stop();
  }
});
