import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createUploadSession } from "../../src/hub/upload-session.js";
import { publishFolder } from "../../src/hub/publish-folder.js";
import { startHubDouble } from "../support/hub-double.js";
import { tempDir } from "../helpers.js";
import { safetensorsBytes, writeModelFolder } from "./model-folder.js";

test("export --push flow: each shard uploaded then deleted locally, one commit last, content on the Hub intact", async () => {
  const d = await startHubDouble();
  const t = await tempDir();
  try {
    const session = await createUploadSession({ repoId: "acme/pushed", token: "hf_write", endpoint: d.url, sleep: async () => undefined });
    assert.equal(session.created, false, "nothing is created before the first upload");
    const shards = [safetensorsBytes([{ name: "a", dtype: "BF16", shape: [64, 8] }], 3), safetensorsBytes([{ name: "b", dtype: "BF16", shape: [32] }], 4)];
    const uploaded = [];
    for (const [i, bytes] of shards.entries()) {
      const name = `model-0000${i + 1}-of-00002.safetensors`;
      const path = join(t.dir, name);
      await writeFile(path, bytes);
      const u = await session.uploadFile(path, name);
      assert.equal(u.lfs, true);
      assert.equal(u.size, bytes.length);
      await rm(path);
      uploaded.push(u);
    }
    assert.equal(d.requests.filter((r) => r.path.includes("/commit/")).length, 0, "uploads commit nothing");
    await writeFile(join(t.dir, "config.json"), '{"torch_dtype":"bfloat16"}');
    uploaded.push(await session.uploadFile(join(t.dir, "config.json"), "config.json"));
    const commit = await session.commit(uploaded, { summary: "Export" });
    const repo = d.state.repos.get("acme/pushed");
    assert.equal(repo?.refs.get("main"), commit.oid);
    assert.deepEqual([...(repo?.commits.get(commit.oid)?.files.keys() ?? [])].sort(), [".gitattributes", "config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]);
    for (const [i, bytes] of shards.entries()) {
      const res = await fetch(`${d.url}/acme/pushed/resolve/main/model-0000${i + 1}-of-00002.safetensors`, { headers: { Authorization: "Bearer hf_write" } });
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
    }
  } finally {
    await d.stop();
    await t.cleanup();
  }
});

test("a commit whose answer is lost is found on the branch by the retry (412), not committed twice", async () => {
  const d = await startHubDouble();
  const t = await tempDir();
  try {
    await writeModelFolder(t.dir);
    d.faults.add({ match: (r) => r.path.includes("/commit/"), kind: "drop", dropAfterHandling: true });
    const report = await publishFolder({ folder: t.dir, repoId: "acme/model", token: "hf_write", endpoint: d.url, sleep: async () => undefined });
    const repo = d.state.repos.get("acme/model");
    assert.equal(repo?.commits.size, 2, "the initial commit and ours");
    assert.equal(repo?.refs.get("main"), report.commit.oid);
    assert.deepEqual(d.requests.filter((r) => r.path.includes("/commit/")).map((r) => r.status), [0, 412]);
    assert.equal(report.shardsBitExact, 2);
    assert.deepEqual(await readFile(join(t.dir, "config.json")), repo?.commits.get(report.commit.oid)?.files.get("config.json")?.kind === "regular" ? (repo.commits.get(report.commit.oid)?.files.get("config.json") as { bytes: Buffer }).bytes : null);
  } finally {
    await d.stop();
    await t.cleanup();
  }
});
