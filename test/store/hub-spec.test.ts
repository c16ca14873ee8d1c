import assert from "node:assert/strict";
import { test } from "node:test";
import { isHubSpec, parseHubSpec } from "../../src/store/hub-spec.js";
import { parseRateLimitReset, serverWaitMs } from "../../src/hub/retry.js";

test("hf:// specs: the revision is everything after the first '@', '/' and '@' as they are, %-escapes decoded once", () => {
  const cases: Array<[string, string, string]> = [
    ["hf://acme/m", "acme/m", "main"],
    ["hf://acme/m@v1.0", "acme/m", "v1.0"],
    ["hf://acme/m@refs/pr/3", "acme/m", "refs/pr/3"],
    ["hf://acme/m@refs%2Fpr%2F3", "acme/m", "refs/pr/3"],
    ["hf://acme/m@feature/x@2", "acme/m", "feature/x@2"],
    ["hf://acme/m@100%25", "acme/m", "100%"],
    ["hf://acme/m@" + "a".repeat(40), "acme/m", "a".repeat(40)],
  ];
  for (const [spec, repo, revision] of cases) {
    const p = parseHubSpec(spec);
    assert.deepEqual([p.repo.full, p.revision, p.label], [repo, revision, `hf://${repo}@${revision}`], spec);
  }
  assert.equal(isHubSpec("hf://a/b"), true);
  assert.equal(isHubSpec("./hf://a/b"), false);
  assert.equal(isHubSpec("models/hf"), false);
});

test("malformed hf:// specs are one usage line naming what is wrong", () => {
  const bad: Array<[string, string, RegExp]> = [
    ["hf://acme", "HUB_REPO_ID", /exactly one '\/'/],
    ["hf://acme/m/sub", "HUB_REPO_ID", /exactly one '\/'/],
    ["hf://datasets/acme/d", "USAGE", /only model repos/],
    ["hf://acme/m@", "USAGE", /the revision after '@' is empty/],
    ["hf://acme/m@a b", "USAGE", /space/],
    ["hf://acme/m@../x", "USAGE", /'\.\.'/],
    ["hf://acme/m@%zz", "USAGE", /malformed %-escape/],
    ["hf://acme/m@x/", "USAGE", /ends with '\/'/],
  ];
  for (const [spec, code, re] of bad) {
    assert.throws(() => parseHubSpec(spec), (e: Error & { code?: string }) => e.code === code && re.test(e.message) && !e.message.includes("\n"), spec);
  }
});

test("the Hub's RateLimit header gives the wait: the reset of the exhausted quota, else the longest", () => {
  assert.equal(parseRateLimitReset('"api";r=0;t=55'), 55_000);
  assert.equal(parseRateLimitReset('"api";r=12;t=55, "resolvers";r=0;t=8'), 8_000);
  assert.equal(parseRateLimitReset('"api";r=3;t=20'), 20_000);
  assert.equal(parseRateLimitReset('"api";r=3'), null);
  assert.equal(parseRateLimitReset("garbage"), null);
  assert.equal(parseRateLimitReset(null), null);
  assert.equal(serverWaitMs(new Headers({ "Retry-After": "4", RateLimit: '"api";r=0;t=55' })), 4_000, "Retry-After first");
  assert.equal(serverWaitMs(new Headers({ RateLimit: '"api";r=0;t=55' })), 55_000);
  assert.equal(serverWaitMs(new Headers()), null);
});
