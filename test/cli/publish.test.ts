import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startHubDouble, type HubDouble } from "../support/hub-double.js";
import { tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { bf16Weights, f32, writeModelFolder } from "../support/build-model.js";

const TOKEN = "hf_write";

async function withHub(fn: (d: HubDouble, dir: string) => Promise<void>): Promise<void> {
  const d = await startHubDouble();
  const t = await tempDir();
  try {
    await fn(d, t.dir);
  } finally {
    await d.stop();
    await t.cleanup();
  }
}

async function source(dir: string): Promise<void> {
  await writeModelFolder(dir, {
    tensors: [
      { name: "model.embed_tokens.weight", dtype: "BF16", shape: [64, 32], data: bf16Weights(2048, 1) },
      { name: "model.layers.0.mlp.up_proj.weight", dtype: "BF16", shape: [64, 32], data: bf16Weights(2048, 2) },
      { name: "model.layers.0.mlp.down_proj.weight", dtype: "BF16", shape: [32, 64], data: bf16Weights(2048, 3) },
      { name: "model.norm.weight", dtype: "F32", shape: [4], data: f32([1, 2, 3, 4]) },
    ],
    config: { architectures: ["LlamaForCausalLM"], torch_dtype: "float32" },
    files: { "tokenizer.json": '{"model":{}}' },
  });
}

async function download(d: HubDouble, repo: string, path: string): Promise<Buffer> {
  const res = await fetch(`${d.url}/${repo}/resolve/main/${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200, path);
  return Buffer.from(await res.arrayBuffer());
}

const commits = (d: HubDouble) => d.requests.filter((r) => r.method === "POST" && /\/commit\//.test(r.path) && r.status === 200);

test("export then publish: one commit, every file downloads back identical, the token is never printed", async () => {
  await withHub(async (d, dir) => {
    await source(join(dir, "m"));
    assert.equal((await cli(["export", "m", "out", "--quiet"], { cwd: dir })).code, 0);
    const env = { HF_TOKEN: TOKEN };
    const r = await cli(["publish", "out", "acme/tiny", "--endpoint", d.url], { cwd: dir, env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^published acme\/tiny@([0-9a-f]{40}): 5 files, 1 shard verified on the Hub, dtype bfloat16\n  repo:   http:\/\/127\.0\.0\.1:\d+\/acme\/tiny\n  commit: http:\/\/127\.0\.0\.1:\d+\/acme\/tiny\/commit\/\1\n$/);
    assert.equal(commits(d).length, 1);
    for (const name of await readdir(join(dir, "out"))) {
      assert.ok((await download(d, "acme/tiny", name)).equals(await readFile(join(dir, "out", name))), name);
    }
    assert.ok(!(r.stdout + r.stderr).includes(TOKEN));
    const j = await cli(["publish", "out", "acme/tiny", "--endpoint", d.url, "--json"], { cwd: dir, env });
    const report = JSON.parse(j.stdout) as { private: boolean; created: boolean; bytesSent: number };
    assert.equal(report.private, true);
    assert.equal(report.created, false);
    assert.equal(report.bytesSent, 0, "a re-run sends nothing the Hub already stores");
    assert.ok(!j.stdout.includes(TOKEN));
  });
});

test("publish failures: a bad token, a bad repo id, a folder that fails its check — one line each, exit 1", async () => {
  await withHub(async (d, dir) => {
    await source(join(dir, "m"));
    await cli(["export", "m", "out", "--quiet"], { cwd: dir });
    const secret = "hf_not_a_known_token_123456";
    const bad = await cli(["publish", "out", "acme/x", "--endpoint", d.url], { cwd: dir, env: { HF_TOKEN: secret } });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^truecast: .+\n$/);
    assert.ok(!bad.stderr.includes(secret));
    const id = await cli(["publish", "out", "not a repo", "--endpoint", d.url], { cwd: dir, env: { HF_TOKEN: TOKEN } });
    assert.equal(id.code, 1);
    assert.match(id.stderr, /^truecast: .*repo/i);
    // A config.json that lies about the dtype is refused unless --force.
    const cfg = join(dir, "out", "config.json");
    await writeFile(cfg, JSON.stringify({ torch_dtype: "float16", dtype: "float16" }));
    const refused = await cli(["publish", "out", "acme/y", "--endpoint", d.url], { cwd: dir, env: { HF_TOKEN: TOKEN } });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^truecast: not publishing .*--force/);
    assert.equal(commits(d).length, 0);
    const forced = await cli(["publish", "out", "acme/y", "--endpoint", d.url, "--force"], { cwd: dir, env: { HF_TOKEN: TOKEN } });
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /"torch_dtype" says float16 but the tensors are mostly bfloat16/);
    assert.match(forced.stdout, /forced past 2 problems in the folder check\)\n  repo: .*\n  commit: .*\n$/);
  });
});

test("export --push uploads shards as they are written, commits once, and keeps no local copy", async () => {
  await withHub(async (d, dir) => {
    await source(join(dir, "m"));
    const env = { HF_TOKEN: TOKEN };
    const keep = await cli(["export", "m", "kept", "--max-shard-size", "8KB", "--push", "acme/kept", "--keep-local", "--endpoint", d.url], { cwd: dir, env });
    assert.equal(keep.code, 0, keep.stderr);
    assert.match(keep.stdout, /published acme\/kept@[0-9a-f]{40}: \d+ files, 3 shards verified on the Hub, dtype bfloat16\n  repo:   \S+\/acme\/kept\n  commit: \S+\/acme\/kept\/commit\/[0-9a-f]{40}\n$/);
    const names = (await readdir(join(dir, "kept"))).sort();
    assert.ok(names.includes("model-00003-of-00003.safetensors") && names.includes("README.md"));
    for (const name of names) assert.ok((await download(d, "acme/kept", name)).equals(await readFile(join(dir, "kept", name))), name);

    const push = await cli(["export", "m", "gone", "--max-shard-size", "8KB", "--push", "acme/pushed", "--endpoint", d.url, "--json"], { cwd: dir, env });
    assert.equal(push.code, 0, push.stderr);
    assert.equal(existsSync(join(dir, "gone")), false, "without --keep-local nothing stays at <out>");
    assert.deepEqual((await readdir(dir)).sort(), ["kept", "m"], "no staging folder left");
    const report = JSON.parse(push.stdout) as { out: string | null; published: { shardsBitExact: number; files: { path: string }[] } };
    assert.equal(report.out, null);
    assert.equal(report.published.shardsBitExact, 3);
    // The same export, so the same bytes as the kept copy (the card and the report name the repo and the date, so they differ).
    for (const name of names.filter((n) => n !== "README.md" && n !== "truecast-report.json")) {
      assert.ok((await download(d, "acme/pushed", name)).equals(await readFile(join(dir, "kept", name))), name);
    }
    assert.equal(commits(d).length, 2, "one commit per export");
    assert.ok(!(push.stdout + push.stderr + keep.stdout + keep.stderr).includes(TOKEN));
  });
});

test("export --push with a bad token fails before any work and writes nothing", async () => {
  await withHub(async (d, dir) => {
    await source(join(dir, "m"));
    const r = await cli(["export", "m", "out", "--push", "acme/z", "--endpoint", d.url], { cwd: dir, env: { HF_TOKEN: "hf_wrong_token_value" } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^truecast: .+\n$/);
    assert.ok(!r.stderr.includes("hf_wrong_token_value"));
    assert.deepEqual(await readdir(dir), ["m"]);
    assert.equal(d.requests.filter((q) => q.method === "PUT").length, 0);
    const usage = await cli(["export", "m", "out", "--keep-local"], { cwd: dir });
    assert.equal(usage.code, 2);
  });
});
