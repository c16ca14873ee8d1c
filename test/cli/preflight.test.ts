/**
 * Issue 10 item 1: every path, option and the token are checked before the first tensor byte is read or the Hub is
 * touched, and a failed `export --push` leaves no repository behind (it is created only right before the first
 * upload, and deleted again when the run fails before its commit).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startHubDouble, type HubDouble } from "../support/hub-double.js";
import { tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { threeTensorFolder } from "../support/build-model.js";

const env = { HF_TOKEN: "hf_write" };

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

/** The model of these tests; with `overflow`, z.weight holds 1e10 (see threeTensorFolder). */
const source = (dir: string, overflow = false) => threeTensorFolder(dir, { overflow });

/** Bad inputs given with --push: each fails with one line, before any request reaches the Hub, and writes nothing. */
test("export --push: a missing or wrong --model-card, --base, --adapter or output fails before the Hub is contacted", async () => {
  await withHub(async (d, dir) => {
    await source(join(dir, "m"));
    await mkdir(join(dir, "a-folder"));
    await mkdir(join(dir, "bad-adapter"));
    await writeFile(join(dir, "bad-adapter", "adapter_config.json"), "{ not json");
    await writeFile(join(dir, "bad-adapter", "adapter_model.safetensors"), "x");
    await writeFile(join(dir, "a-file"), "x");
    const cases: Array<{ args: string[]; code: number; message: RegExp }> = [
      { args: ["--model-card", "missing-card.md"], code: 1, message: /--model-card .*missing-card\.md: no such file/ },
      { args: ["--model-card", "a-folder"], code: 2, message: /--model-card .*a-folder: is not a regular file/ },
      { args: ["--base", "./no-such-base"], code: 1, message: /--base \.\/no-such-base: no such folder/ },
      { args: ["--base", "a-file"], code: 2, message: /--base a-file: is a file/ },
      { args: ["--adapter", "no-such-adapter"], code: 1, message: /--adapter .*no-such-adapter: no such folder/ },
      { args: ["--adapter", "bad-adapter"], code: 1, message: /adapter_config\.json/ },
    ];
    for (const c of cases) {
      const r = await cli(["export", "m", "out", "--push", "acme/never", "--endpoint", d.url, ...c.args], { cwd: dir, env });
      assert.equal(r.code, c.code, `${c.args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^truecast: [^\n]+\n$/, c.args.join(" "));
      assert.match(r.stderr, c.message, c.args.join(" "));
      assert.equal(d.requests.length, 0, `${c.args.join(" ")}: no request reached the Hub`);
      assert.deepEqual((await readdir(dir)).sort(), ["a-file", "a-folder", "bad-adapter", "m"], c.args.join(" "));
    }
    // The output: a file there, or a non-empty folder without --force.
    const onFile = await cli(["export", "m", "a-file", "--push", "acme/never", "--endpoint", d.url], { cwd: dir, env });
    assert.equal(onFile.code, 1);
    assert.match(onFile.stderr, /^truecast: .*a-file is a file; choose a folder path/);
    await writeFile(join(dir, "a-folder", "keep.txt"), "mine");
    const onFolder = await cli(["export", "m", "a-folder", "--push", "acme/never", "--endpoint", d.url], { cwd: dir, env });
    assert.equal(onFolder.code, 1);
    assert.match(onFolder.stderr, /a-folder already exists and is not empty/);
    assert.equal(d.requests.length, 0);
    assert.equal(d.state.repos.size, 0);
  });
});

test("export --push with a good token but a bad --model-card: no repo, nothing uploaded", async () => {
  await withHub(async (d, dir) => {
    await source(join(dir, "m"));
    const r = await cli(["export", "m", "out", "--push", "acme/none", "--model-card", "missing-card.md", "--endpoint", d.url], { cwd: dir, env });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(d.state.repos.has("acme/none"), false);
    assert.equal(d.requests.filter((q) => q.method === "PUT" || q.path.includes("/repos/create")).length, 0);
  });
});

test("export --push: the token and the repo are checked first, but the repo is created only right before the first upload", async () => {
  await withHub(async (d, dir) => {
    await source(join(dir, "m"));
    const r = await cli(["export", "m", "out", "--push", "acme/late", "--max-shard-size", "5KB", "--endpoint", d.url], { cwd: dir, env });
    assert.equal(r.code, 0, r.stderr);
    const paths = d.requests.map((q) => `${q.method} ${q.path.split("?")[0] ?? ""}`);
    assert.equal(paths[0], "GET /api/whoami-v2");
    assert.equal(paths[1], "GET /api/models/acme/late");
    const create = paths.indexOf("POST /api/repos/create");
    const firstUpload = paths.findIndex((p) => p.includes("/preupload/"));
    assert.ok(create > 1 && create < firstUpload, paths.join("\n"));
    assert.equal(d.state.repos.has("acme/late"), true);
    // A source that cannot be read fails after the token and repo checks, and no repo was created for it.
    await mkdir(join(dir, "broken"));
    await writeFile(join(dir, "broken", "model.safetensors"), Buffer.from([16, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x22]));
    const before = d.requests.length;
    const broken = await cli(["export", "broken", "out2", "--push", "acme/broken", "--endpoint", d.url], { cwd: dir, env });
    assert.equal(broken.code, 1, broken.stderr);
    assert.match(broken.stderr, /^truecast: [^\n]*model\.safetensors[^\n]*\n$/);
    assert.deepEqual(d.requests.slice(before).map((q) => `${q.method} ${q.path}`), ["GET /api/whoami-v2", "GET /api/models/acme/broken"]);
    assert.equal(d.state.repos.has("acme/broken"), false);
  });
});

test("export --push that fails mid-way (an overflow in the last shard) deletes the repo it created: no empty repo is left", async () => {
  await withHub(async (d, dir) => {
    await source(join(dir, "m"), true);
    const r = await cli(["export", "m", "out", "--push", "acme/failed", "--dtype", "float16", "--max-shard-size", "5KB", "--endpoint", d.url], { cwd: dir, env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^truecast: converting tensor "z\.weight" from F32 to F16 would turn 1 finite value into infinity[^\n]*\n$/);
    assert.equal(d.state.repos.has("acme/failed"), false, "no repo is left");
    const created = d.requests.filter((q) => q.path === "/api/repos/create" && q.status === 200).length;
    const deleted = d.requests.filter((q) => q.method === "DELETE" && q.path === "/api/repos/delete" && q.status === 200).length;
    assert.equal(created, deleted, "a repo created on the way is deleted again");
    assert.deepEqual((await readdir(dir)).sort(), ["m"]);
  });
});

test("export --push that fails at the commit into an existing repo leaves that repo as it was", async () => {
  await withHub(async (d, dir) => {
    await source(join(dir, "m"));
    assert.equal((await cli(["export", "m", "one", "--push", "acme/kept", "--endpoint", d.url, "--quiet"], { cwd: dir, env })).code, 0);
    const head = d.state.repos.get("acme/kept")?.refs.get("main");
    d.faults.add({ match: (q) => q.path.includes("/commit/"), kind: "status", status: 403 });
    const r = await cli(["export", "m", "two", "--push", "acme/kept", "--dtype", "float32", "--endpoint", d.url], { cwd: dir, env });
    assert.equal(r.code, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /deleted/);
    assert.equal(d.state.repos.get("acme/kept")?.refs.get("main"), head);
    assert.equal(d.requests.filter((q) => q.method === "DELETE").length, 0);
  });
});

test("export --push into a new repo that fails at the commit deletes the repo again and says so", async () => {
  await withHub(async (d, dir) => {
    await source(join(dir, "m"));
    d.faults.add({ match: (q) => q.path.includes("/commit/"), kind: "status", status: 403 });
    const r = await cli(["export", "m", "out", "--push", "acme/fresh", "--max-shard-size", "5KB", "--endpoint", d.url], { cwd: dir, env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^truecast: [^\n]*\(acme\/fresh was created by this run and is deleted again: nothing was committed\)\n$/);
    assert.equal(d.requests.filter((q) => q.path.includes("/preupload/")).length > 0, true, "shards were uploaded first");
    assert.equal(d.state.repos.has("acme/fresh"), false);
    assert.deepEqual((await readdir(dir)).sort(), ["m"]);
  });
});

test("export --push into a new repo whose commit got no answer keeps the repo: the commit may have landed", async () => {
  await withHub(async (d, dir) => {
    await source(join(dir, "m"));
    // The connection drops on every try of the commit: whether the Hub applied it cannot be known from here.
    d.faults.add({ match: (q) => q.path.includes("/commit/"), kind: "drop", times: 1000 });
    const r = await cli(["export", "m", "out", "--push", "acme/maybe", "--max-shard-size", "5KB", "--endpoint", d.url], { cwd: dir, env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^truecast: [^\n]*\(acme\/maybe was created by this run and its commit may have landed although no answer came back; check it on the Hub\)\n$/);
    assert.equal(d.state.repos.has("acme/maybe"), true, "a repo that may hold the commit is never deleted");
    assert.equal(d.requests.filter((q) => q.method === "DELETE").length, 0);
  });
});
