import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { publishFolder } from "../../src/hub/publish-folder.js";
import type { PublishEvent } from "../../src/hub/events.js";
import { startHubDouble, type HubDouble } from "../support/hub-double.js";
import { tempDir } from "../helpers.js";
import { writeModelFolder } from "./model-folder.js";

const noSleep = async () => undefined;

async function withDouble(fn: (d: HubDouble, dir: string) => Promise<void>, opts: Parameters<typeof startHubDouble>[0] = {}): Promise<void> {
  const d = await startHubDouble(opts);
  const t = await tempDir();
  try {
    await fn(d, t.dir);
  } finally {
    await d.stop();
    await t.cleanup();
  }
}

async function download(d: HubDouble, repo: string, rev: string, path: string, token = "hf_write"): Promise<Buffer> {
  const res = await fetch(`${d.url}/${repo}/resolve/${rev}/${path}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, `download ${path}`);
  return Buffer.from(await res.arrayBuffer());
}

const commits = (d: HubDouble) => d.requests.filter((r) => r.method === "POST" && /\/commit\//.test(r.path) && r.status === 200);

test("publish → download back every file through resolve: bytes identical, one commit, private by default", async () => {
  await withDouble(async (d, dir) => {
    const names = await writeModelFolder(dir);
    const events: PublishEvent[] = [];
    const report = await publishFolder({ folder: dir, repoId: "acme/model", token: "hf_write", endpoint: d.url, sleep: noSleep, onProgress: (e) => events.push(e) });
    assert.equal(commits(d).length, 1);
    assert.deepEqual(report.files.map((f) => f.path).sort(), names);
    assert.equal(report.created, true);
    assert.equal(report.private, true);
    assert.equal(d.state.repos.get("acme/model")?.private, true);
    assert.equal(report.shardsBitExact, 2);
    assert.equal(report.dtype, "bfloat16");
    assert.equal(report.forced, false);
    assert.match(report.summary, new RegExp(`^published acme/model@${report.commit.oid}: 6 files, 2 shards verified on the Hub, dtype bfloat16$`));
    for (const name of names) {
      assert.deepEqual(await download(d, "acme/model", report.commit.oid, name), await readFile(join(dir, name)), name);
    }
    const anonymous = await fetch(`${d.url}/acme/model/resolve/main/config.json`);
    assert.equal(anonymous.status, 401, "a private repo is invisible without a token");
    assert.equal(anonymous.headers.get("x-error-code"), "RepoNotFound");
    await anonymous.body?.cancel();
    const shard = report.files.find((f) => f.path === "model-00001-of-00002.safetensors");
    assert.equal(shard?.lfs, true);
    assert.equal(shard?.sent, true);
    assert.equal(report.files.find((f) => f.path === "config.json")?.lfs, false);
    // progress: per file and overall, ending at the total
    const last = events.filter((e) => e.type === "overall").at(-1);
    assert.ok(last && last.type === "overall" && last.bytes === last.total && last.files === 6);
    assert.ok(events.some((e) => e.type === "file" && e.state === "uploaded" && e.path === "model-00002-of-00002.safetensors"));
    assert.ok(events.some((e) => e.type === "phase" && e.phase === "verifying"));
  });
});

test("--public creates a public repo; a second publish of the unchanged folder reuses the repo, sends nothing and makes no commit", async () => {
  await withDouble(async (d, dir) => {
    await writeModelFolder(dir);
    const first = await publishFolder({ folder: dir, repoId: "acme/open", token: "hf_write", endpoint: d.url, public: true, sleep: noSleep });
    assert.equal(first.private, false);
    assert.equal(d.state.repos.get("acme/open")?.private, false);
    const putsBefore = d.requests.filter((r) => r.method === "PUT").length;
    const second = await publishFolder({ folder: dir, repoId: "acme/open", token: "hf_write", endpoint: d.url, sleep: noSleep });
    assert.equal(second.created, false);
    assert.equal(d.requests.filter((r) => r.method === "PUT").length, putsBefore);
    assert.ok(second.files.filter((f) => f.lfs).every((f) => !f.sent));
    assert.equal(second.bytesSent, 0);
    assert.equal(commits(d).length, 1, "no empty commit");
    assert.equal(second.committed, false);
    assert.equal(second.commit.oid, first.commit.oid);
    assert.match(second.summary, new RegExp(`^nothing to publish: acme/open@${first.commit.oid} already holds these ${first.files.length} files \\(no commit made\\)`));
  });
});

test("multipart upload above the threshold, tree listing paged, revision branch and pull request", async () => {
  await withDouble(
    async (d, dir) => {
      await writeModelFolder(dir, { rows: 4096 }); // shards of 128 KiB, parts of 32 KiB
      const onBranch = await publishFolder({ folder: dir, repoId: "acme/big", token: "hf_write", endpoint: d.url, revision: "dev", sleep: noSleep });
      assert.equal(onBranch.revision, "dev");
      const repo = d.state.repos.get("acme/big");
      assert.equal(repo?.refs.get("dev"), onBranch.commit.oid);
      assert.notEqual(repo?.refs.get("main"), onBranch.commit.oid);
      assert.ok(d.requests.some((r) => r.server === "storage" && r.path.startsWith("/lfs/part/")));
      assert.ok(d.requests.some((r) => r.server === "storage" && r.path.startsWith("/lfs/complete/")));
      assert.ok(d.requests.some((r) => r.path.includes("/tree/") && r.path.includes("cursor=")));
      const pr = await publishFolder({ folder: dir, repoId: "acme/big", token: "hf_write", endpoint: d.url, createPr: true, commitMessage: "Propose weights", sleep: noSleep });
      assert.match(pr.pullRequestUrl ?? "", /\/acme\/big\/discussions\/1$/);
      assert.equal(repo?.refs.get("refs/pr/1"), pr.commit.oid);
      assert.equal(repo?.commits.get(pr.commit.oid)?.summary, "Propose weights");
      assert.match(pr.summary, /pull request .*discussions\/1/);
      const name = "model-00001-of-00002.safetensors";
      assert.deepEqual(await download(d, "acme/big", "refs%2Fpr%2F1", name), await readFile(join(dir, name)));
    },
    { multipartThreshold: 64 * 1024, partSize: 32 * 1024, treePageSize: 2 },
  );
});
