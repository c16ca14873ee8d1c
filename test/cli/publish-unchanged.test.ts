/** Issue 10 item 6 (part): publishing a folder the Hub already holds makes no empty commit and says so. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startHubDouble } from "../support/hub-double.js";
import { tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { bf16Weights, writeModelFolder } from "../support/build-model.js";

test("publishing an unchanged folder again: exit 0, no commit, `nothing to publish`, JSON committed: false; a changed file commits", async () => {
  const d = await startHubDouble();
  const t = await tempDir();
  try {
    const dir = t.dir;
    await writeModelFolder(join(dir, "m"), {
      tensors: [{ name: "w", dtype: "BF16", shape: [64, 32], data: bf16Weights(2048, 5) }],
      config: { architectures: ["LlamaForCausalLM"], torch_dtype: "bfloat16" },
      files: { "tokenizer.json": '{"model":{}}' },
    });
    assert.equal((await cli(["export", "m", "out", "--quiet"], { cwd: dir })).code, 0);
    const env = { HF_TOKEN: "hf_write" };
    const commits = () => d.requests.filter((r) => r.method === "POST" && r.path.includes("/commit/") && r.status === 200).length;
    const first = await cli(["publish", "out", "acme/same", "--endpoint", d.url], { cwd: dir, env });
    assert.equal(first.code, 0, first.stderr);
    const head = d.state.repos.get("acme/same")?.refs.get("main") ?? "";
    assert.match(head, /^[0-9a-f]{40}$/);
    const again = await cli(["publish", "out", "acme/same", "--endpoint", d.url], { cwd: dir, env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`^nothing to publish: acme/same@${head} already holds these 5 files \\(no commit made\\), 1 shard verified on the Hub\\n`));
    assert.equal(commits(), 1);
    assert.equal(d.state.repos.get("acme/same")?.refs.get("main"), head);
    const json = await cli(["publish", "out", "acme/same", "--endpoint", d.url, "--json"], { cwd: dir, env });
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as { committed: boolean; commit: { oid: string }; bytesSent: number };
    assert.equal(report.committed, false);
    assert.equal(report.commit.oid, head);
    assert.equal(report.bytesSent, 0);
    assert.equal(commits(), 1);
    // One small file changed: a real commit.
    await writeFile(join(dir, "out", "tokenizer.json"), '{"model":{"changed":true}}');
    const changed = await cli(["publish", "out", "acme/same", "--endpoint", d.url], { cwd: dir, env });
    assert.equal(changed.code, 0, changed.stderr);
    assert.match(changed.stdout, /^published acme\/same@[0-9a-f]{40}: 5 files/);
    assert.equal(commits(), 2);
    assert.notEqual(d.state.repos.get("acme/same")?.refs.get("main"), head);
  } finally {
    await d.stop();
    await t.cleanup();
  }
});
