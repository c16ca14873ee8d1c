import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { resolveEndpoint, resolveToken } from "../../src/hub/token.js";
import { parseRepoId } from "../../src/hub/repo-id.js";
import { TruecastError } from "../../src/errors.js";
import { tempDir } from "../helpers.js";

test("token: --token-file, else HF_TOKEN, else $HF_HOME/token, else ~/.cache/huggingface/token", async () => {
  const t = await tempDir();
  try {
    const file = join(t.dir, "tok");
    await writeFile(file, "hf_fromfile\n");
    await mkdir(join(t.dir, "hfhome"));
    await writeFile(join(t.dir, "hfhome", "token"), "hf_fromhome");
    await mkdir(join(t.dir, "home", ".cache", "huggingface"), { recursive: true });
    await writeFile(join(t.dir, "home", ".cache", "huggingface", "token"), "hf_default\n");
    const env = { HF_TOKEN: "hf_env", HF_HOME: join(t.dir, "hfhome") };
    const home = join(t.dir, "home");
    assert.deepEqual(await resolveToken({ tokenFile: file, env, home }), { token: "hf_fromfile", source: "token-file", path: file });
    assert.deepEqual(await resolveToken({ env, home }), { token: "hf_env", source: "HF_TOKEN" });
    assert.equal((await resolveToken({ env: { HF_HOME: env.HF_HOME }, home })).token, "hf_fromhome");
    assert.equal((await resolveToken({ env: {}, home })).token, "hf_default");
  } finally {
    await t.cleanup();
  }
});

test("no token anywhere, or an unreadable token file, is HUB_AUTH without any token text", async () => {
  const t = await tempDir();
  try {
    await assert.rejects(resolveToken({ env: {}, home: t.dir }), (e: unknown) => e instanceof TruecastError && e.code === "HUB_AUTH" && /--token-file, set HF_TOKEN/.test(e.message));
    await assert.rejects(resolveToken({ tokenFile: join(t.dir, "missing"), env: { HF_TOKEN: "hf_env" } }), (e: unknown) => e instanceof TruecastError && e.code === "HUB_AUTH");
    await writeFile(join(t.dir, "two"), "hf_secret one\n");
    await assert.rejects(resolveToken({ tokenFile: join(t.dir, "two") }), (e: unknown) => e instanceof TruecastError && e.code === "HUB_AUTH" && !e.message.includes("hf_secret"));
  } finally {
    await t.cleanup();
  }
});

test("endpoint: the parameter, else HF_ENDPOINT, else the public Hub", () => {
  assert.equal(resolveEndpoint("http://127.0.0.1:9/", { HF_ENDPOINT: "https://mirror.example" }), "http://127.0.0.1:9");
  assert.equal(resolveEndpoint(undefined, { HF_ENDPOINT: "https://mirror.example/" }), "https://mirror.example");
  assert.equal(resolveEndpoint(undefined, {}), "https://huggingface.co");
  assert.throws(() => resolveEndpoint("ftp://x", {}), (e: unknown) => e instanceof TruecastError && e.code === "USAGE");
});

test("repo ids follow the Hub's rules", () => {
  assert.deepEqual(parseRepoId("acme/Model_v1.5-chat"), { namespace: "acme", name: "Model_v1.5-chat", full: "acme/Model_v1.5-chat" });
  const bad: Array<[string, RegExp]> = [
    ["model", /exactly one '\/'/], ["a/b/c", /exactly one/], ["acme/", /name is empty/], ["acme/my model", /letters, digits/],
    ["acme/.x", /start or end/], ["acme/x-", /start or end/], ["acme/a--b", /'--' or '..'/], ["acme/a..b", /'--' or '..'/],
    ["acme/m.git", /'\.git'/], [`acme/${"x".repeat(97)}`, /longer than 96/],
  ];
  for (const [id, why] of bad) {
    assert.throws(() => parseRepoId(id), (e: unknown) => e instanceof TruecastError && e.code === "HUB_REPO_ID" && why.test(e.message), id);
  }
});
