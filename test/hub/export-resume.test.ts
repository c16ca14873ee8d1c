/**
 * Issue 12 item 3: a new run of `export --push` after an interrupted one resumes: shards an earlier run wrote,
 * verified and uploaded are neither read from the source again nor written nor sent, and objects the Hub already
 * stores are never sent again. On the Hub double, with the faults injected: a source read from hf:// whose storage
 * connection drops for good, and an LFS upload that drops mid-shard.
 *
 * The source (generated here): two files of 8 bf16 tensors of 256 KiB, exported at --max-shard-size 1100KB into 4
 * shards of 4 tensors: shards 1-2 come from source file 1, shards 3-4 from source file 2 (so the output's objects
 * are not the source's, which the double, like the Hub, would otherwise report as stored).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli } from "../../src/cli/run.js";
import { cli, type CliResult } from "../support/cli.js";
import { startHubDouble, type HubDouble } from "../support/hub-double.js";
import type { DoubleFile } from "../support/hub-double-store.js";
import { tempDir } from "../helpers.js";
import { hubEnv, repoFiles, seedRepo, sha256 } from "../store/hub-repo-fixture.js";

const FILES = repoFiles(2, 8, 128 * 1024);
const SRC1 = "model-00001-of-00002.safetensors";
const SRC2 = "model-00002-of-00002.safetensors";
const OID1 = sha256(FILES[SRC1] ?? new Uint8Array());
const OID2 = sha256(FILES[SRC2] ?? new Uint8Array());
const SHARDS = [1, 2, 3, 4].map((i) => `model-0000${i}-of-00004.safetensors`);
/** The read-ahead of a short remote read (store/hub-store.ts): what reading a header may fetch. */
const HEADER_BLOCK = 256 * 1024;

interface Setup {
  d: HubDouble;
  dir: string;
  cache: string;
  env: NodeJS.ProcessEnv;
}

async function withSource(fn: (s: Setup) => Promise<void>): Promise<void> {
  const d = await startHubDouble();
  const t = await tempDir();
  try {
    await seedRepo(d, "acme/src", FILES);
    const cache = join(t.dir, "cache");
    // A short retry budget: a connection that is gone for good fails the run in about a second, not a minute.
    const env = { ...(await hubEnv(d)), HF_TOKEN: "hf_write", TRUECAST_CACHE: cache, TRUECAST_HTTP_RETRY_BUDGET_MS: "1500" };
    await fn({ d, dir: t.dir, cache, env });
  } finally {
    await d.stop();
    await t.cleanup();
  }
}

const exportArgs = (d: HubDouble, source: string, extra: string[] = []) =>
  ["export", source, "out", "--push", "acme/out", "--max-shard-size", "1100KB", "--endpoint", d.url, ...extra];

const run = (s: Setup, extra: string[] = [], source = "hf://acme/src"): Promise<CliResult> => cli(exportArgs(s.d, source, ["--json", ...extra]), { cwd: s.dir, env: s.env });

/** The first byte a `bytes=S-E` range asks for. */
const rangeStart = (range: string | undefined) => Number(/^bytes=(\d+)-/.exec(range ?? "")?.[1] ?? NaN);

/** Storage reads of a source object since request `since`: their ranges and the bytes served. */
function reads(d: HubDouble, since: number, oid: string): { ranges: string[]; bytes: number } {
  const got = d.requests.slice(since).filter((r) => r.server === "storage" && r.method === "GET" && r.path === `/lfs/get/${oid}`);
  return { ranges: got.map((r) => r.headers.range ?? ""), bytes: got.reduce((n, r) => n + r.bytesSent, 0) };
}

/** The objects PUT to storage since request `since` (one entry per PUT). */
const puts = (d: HubDouble, since: number): string[] =>
  d.requests.slice(since).filter((r) => r.server === "storage" && r.method === "PUT").map((r) => /^\/lfs\/put\/([0-9a-f]{64})/.exec(r.path)?.[1] ?? r.path);

/** The files of the head commit of a repo of the double. */
function headFiles(d: HubDouble, repo: string): Map<string, DoubleFile> {
  const r = d.state.repos.get(repo);
  return r?.commits.get(r.refs.get("main") ?? "")?.files ?? new Map();
}

/** The resume journal entries in the cache folder: shard file name → entry path and sha256. */
async function journal(cache: string): Promise<Map<string, { path: string; sha256: string }>> {
  const out = new Map<string, { path: string; sha256: string }>();
  const root = join(cache, "resume");
  for (const key of await readdir(root).catch(() => [])) {
    for (const name of await readdir(join(root, key))) {
      const path = join(root, key, name);
      const e = JSON.parse(await readFile(path, "utf8")) as { file: string; sha256: string };
      out.set(e.file, { path, sha256: e.sha256 });
    }
  }
  return out;
}

/** The storage connection for source file 2's tensor bytes drops on every try: the run fails in shard 3 of 4. */
function dropSourceFile2(d: HubDouble): void {
  d.faults.add({
    match: (r) => r.server === "storage" && r.method === "GET" && r.path === `/lfs/get/${OID2}` && rangeStart(r.headers.range) > 0,
    kind: "drop",
    times: 100_000,
  });
}

/** A first run that dies reading source file 2 (shard 3): one line, nothing committed, shards 1-2 on the Hub and journaled. */
async function interruptedRun(s: Setup, opts: { created?: boolean } = {}): Promise<void> {
  const head = s.d.state.repos.get("acme/out")?.refs.get("main");
  dropSourceFile2(s.d);
  const r = await run(s);
  s.d.faults.clear();
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^truecast: [^\n]*model-00002-of-00002\.safetensors[^\n]*\n$/);
  if (opts.created ?? true) {
    assert.match(r.stderr, /\(acme\/out was created by this run and is kept without a commit: 2 shards are uploaded and a re-run of the same command resumes from them; delete the repo on the Hub if you will not run it again\)\n$/);
    assert.equal([...headFiles(s.d, "acme/out").keys()].filter((p) => p !== ".gitattributes").length, 0, "nothing committed");
  } else assert.equal(s.d.state.repos.get("acme/out")?.refs.get("main"), head, "nothing committed");
  assert.deepEqual([...(await journal(s.cache)).keys()].sort(), SHARDS.slice(0, 2));
}

/** The README and report name the run's date: the same files otherwise. */
const undated = (b: Buffer) => b.toString("utf8").replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, "<date>");

test("hf:// source whose connection drops for good in shard 3 of 4: the re-run reads and sends only shards 3-4, and commits what one uninterrupted run commits", async () => {
  await withSource(async (s) => {
    const { d } = s;
    await interruptedRun(s);
    assert.ok(reads(d, 0, OID1).bytes >= (FILES[SRC1]?.byteLength ?? 0), "the first run read source file 1 whole");

    const mark = d.requests.length;
    const r = await run(s);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const report = JSON.parse(r.stdout) as { published: { resumed?: { shards: number; of: number }; shardsBitExact: number; files: { path: string; sha256: string; sent: boolean }[] } };
    assert.deepEqual(report.published.resumed, { shards: 2, of: 4 });
    assert.equal(report.published.shardsBitExact, 4, "every shard's header checked on the Hub, the resumed ones included");
    // Source file 1 (the tensors of shards 1-2): its header only, nothing of its tensors past the header's read-ahead:
    // read once to plan and once by the audit of the source that goes into the commit's description.
    const file1 = reads(d, mark, OID1);
    assert.ok(file1.ranges.every((range) => rangeStart(range) === 0), file1.ranges.join(", "));
    assert.ok(file1.bytes <= 2 * HEADER_BLOCK, `${file1.bytes} bytes of source file 1 served`);
    assert.ok((FILES[SRC1]?.byteLength ?? 0) > 3 * HEADER_BLOCK, "source file 1 is larger than what the re-run reads of it");
    assert.ok(reads(d, mark, OID2).bytes >= (FILES[SRC2]?.byteLength ?? 0) - HEADER_BLOCK, "source file 2 read for shards 3-4");
    // Only shards 3-4 were sent.
    const head = headFiles(d, "acme/out");
    const oidOf = (p: string) => (head.get(p) as { oid?: string } | undefined)?.oid ?? "";
    assert.deepEqual(puts(d, mark).sort(), [oidOf(SHARDS[2] ?? ""), oidOf(SHARDS[3] ?? "")].sort());
    assert.deepEqual(await readdir(join(s.cache, "resume")), [], "the journal is removed after the commit");

    // One uninterrupted run of the same command on a fresh Hub: the same commit, file for file.
    const d2 = await startHubDouble();
    try {
      await seedRepo(d2, "acme/src", FILES);
      const t2 = join(s.dir, "fresh");
      await mkdir(t2);
      const once = await cli(exportArgs(d2, "hf://acme/src", ["--json"]), { cwd: t2, env: { ...(await hubEnv(d2)), HF_TOKEN: "hf_write", TRUECAST_CACHE: join(t2, "cache") } });
      assert.equal(once.code, 0, once.stderr);
      const ref = headFiles(d2, "acme/out");
      assert.deepEqual([...head.keys()].sort(), [...ref.keys()].sort());
      for (const [path, f] of ref) {
        const mine = head.get(path);
        if (f.kind === "lfs") assert.deepEqual(mine, f, path);
        else if (path === "README.md" || path === "truecast-report.json") assert.equal(undated((mine as { bytes: Buffer }).bytes), undated(f.bytes), path);
        else assert.ok(mine?.kind === "regular" && mine.bytes.equals(f.bytes), path);
      }
    } finally {
      await d2.stop();
    }
  });
});

test("an LFS upload that drops mid-shard: the re-run does not send again the objects already complete", async () => {
  await withSource(async (s) => {
    const { d } = s;
    const src = join(s.dir, "src");
    for (const [name, bytes] of Object.entries(FILES)) {
      await mkdir(join(src, name, ".."), { recursive: true });
      await writeFile(join(src, name), bytes);
    }
    // The first two objects whose PUT reaches the storage go through; every PUT of any other drops after 200 KB of
    // its body. Shards are written in order but hashed and sent side by side, so under load the second object to
    // arrive may be shard 3's: which two complete is not fixed, only that exactly two do.
    const complete = new Set<string>();
    d.faults.add({
      match: (r) => {
        if (r.server !== "storage" || r.method !== "PUT") return false;
        const oid = /^\/lfs\/put\/([0-9a-f]{64})/.exec(r.path)?.[1] ?? "";
        if (complete.size < 2) complete.add(oid);
        return !complete.has(oid);
      },
      kind: "drop",
      dropAfterBytes: 200_000,
      times: 100_000,
    });
    const first = await run(s, [], "src");
    d.faults.clear();
    assert.equal(first.code, 1, first.stderr);
    assert.match(first.stderr, /^truecast: [^\n]*network error while uploading model-0000[234]-of-00004\.safetensors[^\n]*\(acme\/out was created by this run and is kept without a commit: 2 shards are uploaded[^\n]*\n$/);
    assert.equal(headFiles(d, "acme/out").size, 1, "nothing committed");
    const done = await journal(s.cache);
    assert.equal(done.size, 2, [...done.keys()].join(", "));
    for (const k of done.keys()) assert.ok(SHARDS.includes(k), k);
    assert.deepEqual([...done.values()].map((e) => e.sha256).sort(), [...complete].sort(), "the journal names the objects that completed");

    const mark = d.requests.length;
    const r = await run(s, [], "src");
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { published: { resumed?: unknown } }).published.resumed, { shards: 2, of: 4 });
    const sent = puts(d, mark);
    assert.equal(sent.length, 2, sent.join(", "));
    for (const oid of complete) assert.ok(!sent.includes(oid), `${oid} sent again`);
    const head = headFiles(d, "acme/out");
    assert.deepEqual(SHARDS.map((p) => head.get(p)?.kind), ["lfs", "lfs", "lfs", "lfs"]);
  });
});

test("a journal whose fingerprint does not match (another --dtype, a new commit on the source) is ignored: everything is produced again, and objects the Hub stores are still not sent", async () => {
  await withSource(async (s) => {
    const { d } = s;
    await interruptedRun(s);
    // Another dtype: another export. Nothing resumed, source file 1 read again whole.
    let mark = d.requests.length;
    const f32 = await run(s, ["--dtype", "float32"]);
    assert.equal(f32.code, 0, f32.stderr);
    assert.equal((JSON.parse(f32.stdout) as { published: { resumed?: unknown } }).published.resumed, undefined);
    assert.ok(reads(d, mark, OID1).bytes >= (FILES[SRC1]?.byteLength ?? 0) - HEADER_BLOCK);

    // The bf16 export interrupted again, then a new commit on the source repo (its README only) before the re-run.
    await interruptedRun(s, { created: false });
    const stored = [...(await journal(s.cache)).values()].map((e) => e.sha256);
    await d.state.seed("acme/src", { "README.md": Buffer.from("---\nlicense: mit\n---\n# tiny, edited\n") });
    mark = d.requests.length;
    const r = await run(s);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { published: { resumed?: unknown } }).published.resumed, undefined);
    assert.ok(reads(d, mark, OID1).bytes >= (FILES[SRC1]?.byteLength ?? 0) - HEADER_BLOCK, "shards 1-2 read again");
    // Produced again, but the Hub already stores their bytes: not sent (the LFS batch answer).
    const sent = puts(d, mark);
    for (const oid of stored) assert.ok(!sent.includes(oid), `${oid} sent again`);
    assert.equal(sent.length, 2);
  });
});

test("a journal entry for an object the Hub does not store is not trusted: that shard is produced and sent again", async () => {
  await withSource(async (s) => {
    const { d } = s;
    await interruptedRun(s);
    const lost = (await journal(s.cache)).get(SHARDS[0] ?? "")?.sha256 ?? "";
    d.state.objects.delete(lost);
    await rm(d.state.objectPath(lost), { force: true });
    const mark = d.requests.length;
    const r = await run(s);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { published: { resumed?: unknown } }).published.resumed, { shards: 1, of: 4 });
    assert.ok(reads(d, mark, OID1).bytes > HEADER_BLOCK, "shard 1's tensors read again");
    const sent = puts(d, mark);
    assert.ok(sent.includes(lost), "the lost object sent again");
    assert.equal(sent.length, 3, sent.join(", "));
    assert.equal((headFiles(d, "acme/out").get(SHARDS[0] ?? "") as { oid?: string } | undefined)?.oid, lost);
  });
});

test("a damaged journal entry is ignored with a warning, never a crash; the rest of the journal still serves", async () => {
  await withSource(async (s) => {
    const { d } = s;
    await interruptedRun(s);
    const entry = (await journal(s.cache)).get(SHARDS[0] ?? "");
    assert.ok(entry);
    const text = await readFile(entry.path, "utf8");
    await writeFile(entry.path, text.slice(0, text.length >> 1));
    const mark = d.requests.length;
    const r = await cli(exportArgs(d, "hf://acme/src"), { cwd: s.dir, env: s.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^truecast: warning: ignoring the resume journal entry [^\n]*model-00001-of-00004\.safetensors\.json: it is not JSON \(damaged or cut short\); that shard is produced again\n$/);
    assert.match(r.stdout, /\n {2}resumed: 1 of 4 shards already on the Hub, not read again\n/);
    assert.ok(reads(d, mark, OID1).bytes > HEADER_BLOCK, "shard 1 produced again");
    assert.deepEqual(puts(d, mark).length, 2, "shard 1's object is stored already: only shards 3-4 are sent");
  });
});

test("Ctrl-C after shards were uploaded keeps the repo this run created; --keep-local then produces every shard but sends none the Hub stores", async () => {
  await withSource(async (s) => {
    const { d } = s;
    // Interrupted (as by SIGINT) once shards 1-2 are on the Hub, while shard 3 waits for source file 2's bytes.
    const stop = new AbortController();
    const stopped = new Promise<void>((resolve) => stop.signal.addEventListener("abort", () => resolve(), { once: true }));
    d.faults.add({
      match: (r) => r.server === "storage" && r.method === "GET" && r.path === `/lfs/get/${OID2}` && rangeStart(r.headers.range) > 0,
      kind: "respond",
      respond: async (ctx) => {
        await stopped;
        ctx.res.destroy();
      },
    });
    const watch = setInterval(() => {
      if (d.requests.filter((r) => r.server === "storage" && r.method === "PUT" && r.status === 200).length >= 2) stop.abort("SIGINT");
    }, 20);
    let stderr = "";
    let code: number;
    try {
      code = await runCli(exportArgs(d, "hf://acme/src"), {
        stdout: { write: () => undefined },
        stderr: { write: (t: string) => (stderr += t), isTTY: false },
        // The held read is retried once the run is interrupted, however long the uploads took under load.
        env: { ...s.env, TRUECAST_HTTP_RETRY_BUDGET_MS: "600000" },
        cwd: s.dir,
        signal: stop.signal,
      });
    } finally {
      clearInterval(watch);
      d.faults.clear();
    }
    assert.equal(code, 1, stderr);
    assert.match(stderr, /^truecast: interrupted by SIGINT[^\n]*\(acme\/out was created by this run and is kept without a commit: 2 shards are uploaded[^\n]*\)\n$/);
    assert.deepEqual([...(await journal(s.cache)).keys()].sort(), SHARDS.slice(0, 2));

    // --keep-local: the folder needs every shard, so all are produced, but the objects the Hub stores are not sent.
    const mark = d.requests.length;
    const r = await run(s, ["--keep-local"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { published: { resumed?: unknown } }).published.resumed, undefined);
    assert.deepEqual((await readdir(join(s.dir, "out"))).filter((n) => n.endsWith(".safetensors")).sort(), SHARDS);
    assert.equal(puts(d, mark).length, 2);
  });
});
