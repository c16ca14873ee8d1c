/**
 * Issue 12 item 4: `export --dry-run` and `publish --dry-run` print the plan (files, shards, tensors, bytes,
 * conversions, merge, push target and write calls) and the source's audit, and write or send nothing: the run's
 * folder, its TMPDIR and its HF_HOME are snapshotted before and after, and on the Hub double only GET/HEAD requests
 * arrive. Each plan is then checked against the files the real run writes with the same arguments.
 * Runs the CLI in a child process, so that TMPDIR is the test's own and nothing else writes into it meanwhile.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cp, lstat, mkdir, readdir, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { readSafetensorsHeader } from "../../src/formats/safetensors/read.js";
import { EXPORT_USAGE } from "../../src/cli/export-command.js";
import { PUBLISH_USAGE } from "../../src/cli/publish-command.js";
import { startHubDouble, type HubDouble } from "../support/hub-double.js";
import { cliChild, type ChildResult } from "../support/cli-child.js";
import { fixture, tempDir } from "../helpers.js";
import { bf16Weights, threeTensorFolder, writeModelFolder } from "../support/build-model.js";
import { repoFiles } from "../store/hub-repo-fixture.js";

interface Run {
  /** The working folder (sources, outputs), its TMPDIR and its HF_HOME: everything a run may touch. */
  root: string;
  work: string;
  env: NodeJS.ProcessEnv;
}

async function withRun(fn: (r: Run) => Promise<void>): Promise<void> {
  const t = await tempDir("truecast-dry-run-");
  try {
    const work = join(t.dir, "work");
    const tmp = join(t.dir, "tmp");
    const home = join(t.dir, "hf-home");
    await Promise.all([mkdir(work), mkdir(tmp), mkdir(home)]);
    await fn({ root: t.dir, work, env: { TMPDIR: tmp, HF_HOME: home } });
  } finally {
    await t.cleanup();
  }
}

/**
 * Every path under `dir` with its type, size and modification time; the TMPDIR's own time is left out (a remote
 * source's carried files are copied into a private folder there while it is open, and removed when it is closed).
 */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(at: string): Promise<void> {
    for (const name of (await readdir(at)).sort()) {
      const path = join(at, name);
      const s = await lstat(path);
      out.push(`${relative(dir, path)} ${s.isDirectory() ? "dir" : s.size} ${relative(dir, path) === "tmp" ? "" : s.mtimeMs}`);
      if (s.isDirectory()) await walk(path);
    }
  }
  await walk(dir);
  return out;
}

async function run(r: Run, args: string[], env: NodeJS.ProcessEnv = {}): Promise<ChildResult> {
  return cliChild(args, { cwd: r.work, env: { ...r.env, ...env } });
}

/** Runs the dry run, asserting that nothing under `r.root` changed; returns its result. */
async function dryRun(r: Run, args: string[], env: NodeJS.ProcessEnv = {}): Promise<ChildResult> {
  const before = await snapshot(r.root);
  const result = await run(r, [...args, "--dry-run"], env);
  assert.deepEqual(await snapshot(r.root), before, `${args.join(" ")} --dry-run: nothing written or left behind`);
  return result;
}

interface PlanFile {
  name: string;
  kind: string;
  bytes: number | null;
  tensors?: number;
  tensorBytes?: number;
  origin: string;
}

interface Plan {
  files: PlanFile[];
  tensorCount: number;
  conversions: { from: string; to: string; tensors: number; overflow: string }[];
  lora: { modules: { module: string }[] } | null;
  push: {
    target: { repoId: string; createsRepo: boolean; private: boolean; requestsMade: number };
    uploads: { path: string; bytes: number | null; mode: string }[];
    requests: { createRepo: number; preupload: number; lfsBatch: number; inCommit: number; commits: number };
  } | null;
}

function parseDry(res: ChildResult): { plan: Plan; audit: { ok?: boolean; findings?: unknown[]; error?: string } } {
  assert.equal(res.code, 0, res.stderr);
  const json = JSON.parse(res.stdout) as { schemaVersion: number; dryRun: boolean; plan: Plan; audit: { ok?: boolean; error?: string } };
  assert.equal(json.schemaVersion, 1);
  assert.equal(json.dryRun, true);
  return json;
}

/** The plan's files are exactly the real output's: names, sizes where known, tensors and tensor bytes per shard. */
async function assertPlanMatches(plan: Plan, out: string): Promise<void> {
  assert.deepEqual(plan.files.map((f) => f.name).sort(), (await readdir(out)).sort(), "the same files");
  let tensors = 0;
  for (const f of plan.files) {
    const size = (await lstat(join(out, f.name))).size;
    if (f.bytes !== null) assert.equal(f.bytes, size, `${f.name}: bytes`);
    else assert.ok(f.name === "README.md" || f.name === "truecast-report.json", `${f.name}: only the card and the report are sized once written`);
    if (f.tensors !== undefined) {
      const h = await readSafetensorsHeader(join(out, f.name));
      assert.equal(h.entries.length, f.tensors, `${f.name}: tensors`);
      assert.equal(h.entries.reduce((n, e) => n + (e.end - e.begin), 0), f.tensorBytes, `${f.name}: tensor bytes`);
      tensors += f.tensors;
    }
  }
  assert.equal(tensors, plan.tensorCount);
}

/** The human plan names every file with its exact size. */
function assertHumanLists(text: string, plan: Plan): void {
  assert.match(text, /^dry run: nothing was written, uploaded or committed\n/);
  for (const f of plan.files) {
    if (f.bytes !== null) assert.ok(text.includes(`  ${f.name}: ${f.bytes} bytes`), `${f.name} with its size in:\n${text}`);
    if (f.tensors !== undefined) assert.ok(text.includes(`${f.bytes} bytes, ${f.tensors} tensor${f.tensors === 1 ? "" : "s"} (${f.tensorBytes} bytes of data)`), f.name);
  }
  assert.match(text, /audit of the source \(headers only\):\n(PASS|FAIL)/);
}

/** Three tensors (one shard each at --max-shard-size 5KB) and a tokenizer; see threeTensorFolder. */
const source = (dir: string, overflow = false) => threeTensorFolder(dir, { overflow, files: { "tokenizer.json": '{"model":{}}' } });

test("export --dry-run of a sharded local folder: the plan is the real output, nothing is written", async () => {
  await withRun(async (r) => {
    await source(join(r.work, "m"));
    const args = ["export", "m", "out", "--max-shard-size", "5KB"];
    const { plan, audit } = parseDry(await dryRun(r, [...args, "--json"]));
    assert.deepEqual(plan.files.map((f) => `${f.kind} ${f.name}`), [
      "shard model-00001-of-00003.safetensors", "shard model-00002-of-00003.safetensors", "shard model-00003-of-00003.safetensors",
      "index model.safetensors.index.json", "config config.json", "carried tokenizer.json", "model-card README.md", "report truecast-report.json",
    ]);
    assert.equal(plan.files.find((f) => f.name === "tokenizer.json")?.origin, join(r.work, "m", "tokenizer.json"));
    assert.deepEqual(plan.conversions, []);
    assert.equal(audit.ok, true);
    const human = await dryRun(r, args);
    assert.equal(human.code, 0, human.stderr);
    assertHumanLists(human.stdout, plan);
    assert.match(human.stdout, /conversions: none \(every tensor is copied byte for byte\)/);
    // <out> may be left out of a dry run: the same files, no output checks.
    const noOut = parseDry(await dryRun(r, ["export", "m", "--max-shard-size", "5KB", "--json"]));
    assert.deepEqual(noOut.plan.files, plan.files);

    const real = await run(r, args);
    assert.equal(real.code, 0, real.stderr);
    await assertPlanMatches(plan, join(r.work, "out"));
  });
});

test("export --dry-run of a PyTorch .bin folder made by torch.save: the plan is the real output", async () => {
  await withRun(async (r) => {
    await cp(fixture("torch", "tied_folder"), join(r.work, "bin"), { recursive: true });
    const { plan } = parseDry(await dryRun(r, ["export", "bin", "out", "--json"]));
    assert.deepEqual(plan.files.filter((f) => f.kind === "shard").map((f) => f.name), ["model.safetensors"]);
    const real = await run(r, ["export", "bin", "out"]);
    assert.equal(real.code, 0, real.stderr);
    await assertPlanMatches(plan, join(r.work, "out"));
    // The checkpoint file itself: audited with the files carried beside it only.
    const file = parseDry(await dryRun(r, ["export", "bin/pytorch_model.bin", "out2", "--json"]));
    assert.deepEqual(file.plan.files.map((f) => f.name), plan.files.map((f) => f.name));
    assert.equal(file.audit.error, undefined);
  });
});

test("export --dry-run --dtype bfloat16: each conversion counted, config.json's new dtype, the plan is the real output", async () => {
  await withRun(async (r) => {
    await source(join(r.work, "m"));
    const args = ["export", "m", "out", "--dtype", "bfloat16"];
    const { plan } = parseDry(await dryRun(r, [...args, "--json"]));
    assert.deepEqual(plan.conversions.map((c) => [c.from, c.to, c.tensors, c.overflow]), [["float32", "bfloat16", 1, "refused-if-any"]]);
    const config = plan.files.find((f) => f.name === "config.json") as PlanFile & { dtypeKeys: { before: unknown; after: string } };
    assert.deepEqual(config.dtypeKeys, { before: { torch_dtype: "bfloat16" }, after: "bfloat16" });
    const human = await dryRun(r, args);
    assert.match(human.stdout, /float32 → bfloat16: 1 tensor, 4096 → 2048 bytes; values beyond bfloat16's range would make the real run fail \(OVERFLOW\) unless --allow-overflow: not known until the values are read/);
    const real = await run(r, args);
    assert.equal(real.code, 0, real.stderr);
    await assertPlanMatches(plan, join(r.work, "out"));
  });
});

test("export --dry-run --dtype float16 of values beyond float16: exit 0 and says so; the real run refuses (values are not read)", async () => {
  await withRun(async (r) => {
    await source(join(r.work, "m"), true);
    const { plan } = parseDry(await dryRun(r, ["export", "m", "out", "--dtype", "float16", "--json"]));
    assert.deepEqual(plan.conversions.map((c) => [c.from, c.to, c.overflow]), [["bfloat16", "float16", "refused-if-any"], ["float32", "float16", "refused-if-any"]]);
    const allowed = parseDry(await dryRun(r, ["export", "m", "out", "--dtype", "float16", "--allow-overflow", "--json"]));
    assert.deepEqual(allowed.plan.conversions.map((c) => c.overflow), ["allowed", "allowed"]);
    const widening = parseDry(await dryRun(r, ["export", "m", "out", "--dtype", "float32", "--json"]));
    assert.deepEqual(widening.plan.conversions.map((c) => [c.from, c.to, c.overflow]), [["bfloat16", "float32", "impossible"]]);
    const real = await run(r, ["export", "m", "out", "--dtype", "float16"]);
    assert.equal(real.code, 1);
    assert.match(real.stderr, /^truecast: converting tensor "z\.weight" from F32 to F16 would turn 1 finite value into infinity/);
  });
});

test("export --dry-run --adapter: the modules the LoRA would merge, and the plan is the real output", async () => {
  await withRun(async (r) => {
    await cp(fixture("lora", "base"), join(r.work, "base"), { recursive: true });
    await cp(fixture("lora", "plain"), join(r.work, "adapter"), { recursive: true });
    const args = ["export", "base", "out", "--adapter", "adapter"];
    const { plan } = parseDry(await dryRun(r, [...args, "--json"]));
    assert.ok(plan.lora && plan.lora.modules.length > 0);
    const human = await dryRun(r, args);
    assert.match(human.stdout, new RegExp(`merge: adapter .*: ${plan.lora.modules.length} modules, \\d+ adapter tensors routed`));
    const real = await run(r, [...args, "--json"]);
    assert.equal(real.code, 0, real.stderr);
    const report = JSON.parse(real.stdout) as { lora: { modules: { module: string }[] } };
    assert.deepEqual(plan.lora.modules.map((m) => m.module), report.lora.modules.map((m) => m.module));
    await assertPlanMatches(plan, join(r.work, "out"));
  });
});

test("export --dry-run --base ORG/NAME: the base's files from the Hugging Face cache, nothing downloaded or written there", async () => {
  const d = await startHubDouble();
  try {
    await withRun(async (r) => {
      await writeModelFolder(join(r.work, "m"), { tensors: [{ name: "a.weight", dtype: "BF16", shape: [2048], data: bf16Weights(2048, 1) }] });
      const cache = join(r.root, "hf-home", "hub");
      await cp(fixture("h2o-lora-cache"), cache, { recursive: true });
      const env = { HF_HUB_CACHE: cache, HF_ENDPOINT: d.url };
      const args = ["export", "m", "out", "--base", "truecast-test/tiny-lora-base"];
      const { plan } = parseDry(await dryRun(r, [...args, "--json"], env));
      assert.deepEqual(d.requests.length, 0, "the cache only: no request to the Hub");
      const snapshotDir = join(cache, "models--truecast-test--tiny-lora-base", "snapshots", "7a1e5c3b9d2f4a6081c7e5d3b1a9f7e5c3a1b9d7");
      assert.deepEqual(plan.files.filter((f) => f.origin !== "generated").map((f) => [f.name, f.origin]), [
        ["config.json", join(snapshotDir, "config.json")],
        ["generation_config.json", join(snapshotDir, "generation_config.json")],
      ]);
      const real = await run(r, args, env);
      assert.equal(real.code, 0, real.stderr);
      await assertPlanMatches(plan, join(r.work, "out"));
    });
  } finally {
    await d.stop();
  }
});

async function withHub(fn: (d: HubDouble, r: Run) => Promise<void>): Promise<void> {
  const d = await startHubDouble();
  try {
    await withRun((r) => fn(d, r));
  } finally {
    await d.stop();
  }
}

const writes = (d: HubDouble) => d.requests.filter((q) => q.method !== "GET" && q.method !== "HEAD").map((q) => `${q.method} ${q.path}`);

test("export hf://… --push --dry-run: GET requests only, no repo created, the plan is what the real push uploads", async () => {
  await withHub(async (d, r) => {
    await d.state.seed("acme/src", repoFiles(2, 2, 1024));
    const env = { HF_TOKEN: "hf_write", HF_ENDPOINT: d.url };
    const args = ["export", "hf://acme/src", "out", "--push", "acme/dst", "--keep-local", "--max-shard-size", "5KB"];
    const { plan, audit } = parseDry(await dryRun(r, [...args, "--json"], env));
    assert.deepEqual(writes(d), [], "no write request reached the Hub");
    assert.equal(d.state.repos.has("acme/dst"), false);
    assert.equal(audit.ok, true);
    assert.match(plan.files.find((f) => f.name === "config.json")?.origin ?? "", /^hf:\/\/acme\/src@main\/config\.json$/);
    const push = plan.push;
    assert.ok(push);
    assert.deepEqual({ ...push.target, requestsMade: undefined }, { ...push.target, repoId: "acme/dst", createsRepo: true, private: true, requestsMade: undefined });
    assert.equal(push.requests.createRepo, 1);
    assert.equal(push.requests.preupload, plan.files.length);
    assert.equal(push.requests.commits, 1);
    const human = await dryRun(r, args, env);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /push: http:\/\/127\.0\.0\.1:\d+\/acme\/dst, branch main; repo does not exist: it would be created private/);
    assert.match(human.stdout, /commit: "Upload dst with truecast"/);
    // Without <out>: the same plan.
    const noOut = parseDry(await dryRun(r, ["export", "hf://acme/src", "--push", "acme/dst", "--max-shard-size", "5KB", "--json"], env));
    assert.deepEqual(noOut.plan.files, plan.files);
    assert.deepEqual(writes(d), []);

    const real = await run(r, [...args, "--json"], env);
    assert.equal(real.code, 0, real.stderr);
    await assertPlanMatches(plan, join(r.work, "out"));
    const published = (JSON.parse(real.stdout) as { published: { files: { path: string; size: number; lfs: boolean }[] } }).published;
    assert.deepEqual(
      push.uploads.map((u) => [u.path, u.mode === "lfs"]).sort(),
      published.files.map((f) => [f.path, f.lfs]).sort(),
      "every file, and whether it went through LFS",
    );
    assert.equal(push.requests.lfsBatch, writes(d).filter((w) => w.includes("/info/lfs/objects/batch")).length);
  });
});

test("a dry run the real run would refuse fails with the same code and line", async () => {
  await withHub(async (d, r) => {
    await source(join(r.work, "m"));
    await mkdir(join(r.work, "taken"));
    await writeFile(join(r.work, "taken", "keep.txt"), "mine");
    const cases: { args: string[]; env?: NodeJS.ProcessEnv }[] = [
      { args: ["export", "m", "taken"] },
      { args: ["export", "m", "m/inside"] },
      { args: ["export", "missing", "out"] },
      { args: ["export", "m", "out", "--max-shard-size", "5 parsecs"] },
      { args: ["export", "m", "out", "--push", "acme/x", "--endpoint", d.url], env: { HF_TOKEN: "hf_read" } },
      { args: ["export", "m", "out", "--push", "not a repo", "--endpoint", d.url], env: { HF_TOKEN: "hf_write" } },
    ];
    for (const c of cases) {
      const dry = await dryRun(r, c.args, c.env);
      const real = await run(r, c.args, c.env);
      assert.notEqual(real.code, 0, c.args.join(" "));
      assert.equal(dry.code, real.code, c.args.join(" "));
      assert.match(dry.stderr, /^truecast: [^\n]+\n$/, c.args.join(" "));
      assert.equal(dry.stderr, real.stderr, c.args.join(" "));
    }
    assert.deepEqual(writes(d), []);
    // <out> is required without --dry-run.
    const usage = await run(r, ["export", "m"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /takes <source> <out>; <out> may be left out only with --push or --dry-run/);
  });
});

test("publish --dry-run: files, LFS or not, bytes, commit title and target, GETs only; the real publish does as planned", async () => {
  await withHub(async (d, r) => {
    await source(join(r.work, "m"));
    assert.equal((await run(r, ["export", "m", "out", "--quiet"])).code, 0);
    const env = { HF_TOKEN: "hf_write" };
    const args = ["publish", "out", "acme/pub", "--endpoint", d.url];
    const dry = await dryRun(r, [...args, "--json"], env);
    assert.equal(dry.code, 0, dry.stderr);
    const { plan } = JSON.parse(dry.stdout) as {
      plan: { files: { path: string; bytes: number; mode: string }[]; totalBytes: number; commitSummary: string; target: { createsRepo: boolean } };
    };
    assert.deepEqual(writes(d), []);
    assert.equal(d.state.repos.has("acme/pub"), false);
    const names = (await readdir(join(r.work, "out"))).sort();
    assert.deepEqual(plan.files.map((f) => f.path).sort(), names);
    let total = 0;
    for (const name of names) total += (await lstat(join(r.work, "out", name))).size;
    assert.equal(plan.totalBytes, total);
    assert.equal(plan.commitSummary, "Upload out with truecast");
    assert.equal(plan.target.createsRepo, true);
    const human = await dryRun(r, args, env);
    assert.match(human.stdout, /^dry run: nothing was uploaded or committed\npublish .*out: 5 files, \d+ bytes/);
    assert.match(human.stdout, /model\.safetensors: LFS \(\*\.safetensors is LFS in the Hub's default \.gitattributes\)/);
    assert.match(human.stdout, /config\.json: in commit/);

    const real = await run(r, [...args, "--json"], env);
    assert.equal(real.code, 0, real.stderr);
    const published = JSON.parse(real.stdout) as { files: { path: string; lfs: boolean; size: number }[] };
    assert.deepEqual(plan.files.map((f) => [f.path, f.mode === "lfs", f.bytes]).sort(), published.files.map((f) => [f.path, f.lfs, f.size]).sort());
  });
});

test("usage: --dry-run in export's and publish's help", () => {
  assert.match(EXPORT_USAGE, /truecast export <source> \[<out>\] --dry-run/);
  assert.match(EXPORT_USAGE, /  --dry-run  .*\n[^]*GET/);
  assert.match(PUBLISH_USAGE, /  --dry-run  .*check the folder, the token and the repo \(GET requests only\)/);
});
