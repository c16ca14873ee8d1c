import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cp, lstat, readFile, readdir, readlink, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { homedir } from "node:os";
import { join } from "node:path";
import { TruecastError } from "../../src/errors.js";
import { envFlag, hfEnvironment, hfToken } from "../../src/sources/base-model-env.js";
import { resolveBaseModelDir, resolveBaseModelFiles } from "../../src/sources/base-model.js";
import { fixture, tempDir } from "../helpers.js";

const MODEL = "truecast-test/tiny-llama";
const COMMIT = "3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a098";
const FIXTURE_CACHE = fixture("h2o", "hf-cache");
const SNAPSHOT = join(FIXTURE_CACHE, "models--truecast-test--tiny-llama", "snapshots", COMMIT);
const SMALL = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"];

// ---------------------------------------------------------------------------------------------------------------
// A resolve-only loopback Hub: answers GET/HEAD /{repo}/resolve/{rev}/{path} as huggingface.co does (X-Repo-Commit,
// ETag, ranges, X-Error-Code on 404), redirects LFS files to a storage path, and counts every request.

interface FakeRepo {
  commit: string;
  files: Map<string, Buffer>;
  /** Files served as LFS: 302 to /lfs/<sha256> with X-Linked-Etag / X-Linked-Size. */
  lfs?: Set<string>;
  /** Requires `Authorization: Bearer hf_good`. */
  gated?: boolean;
  /** Lie about one LFS file's size (to prove a short download is never kept). */
  announceSize?: Map<string, number>;
}

interface FakeHub {
  url: string;
  requests: string[];
  /** The requests that carried an Authorization header. */
  authorized: string[];
  stop: () => Promise<void>;
}

/** Python's client sends any token; organization tokens do not start with "hf_". */
const GOOD_TOKENS = ["Bearer hf_good", "Bearer api_org_good"];

function gitOid(b: Buffer): string {
  return createHash("sha1").update(`blob ${b.length}\0`).update(b).digest("hex");
}

function sha256(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}

function serveBytes(req: IncomingMessage, res: ServerResponse, body: Buffer, headers: Record<string, string>): void {
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
  if (range) {
    const start = Number(range[1]);
    const end = Math.min(Number(range[2]), body.length - 1);
    res.statusCode = 206;
    res.setHeader("Content-Range", `bytes ${start}-${end}/${headers["X-Linked-Size"] ?? body.length}`);
    res.end(req.method === "HEAD" ? undefined : body.subarray(start, end + 1));
    return;
  }
  res.statusCode = 200;
  res.end(req.method === "HEAD" ? undefined : body);
}

async function startFakeHub(repos: Record<string, FakeRepo>): Promise<FakeHub> {
  const requests: string[] = [];
  const authorized: string[] = [];
  const blobs = new Map<string, Buffer>();
  const announced = new Map<string, string>();
  for (const r of Object.values(repos)) {
    for (const [name, b] of r.files) {
      blobs.set(sha256(b), b);
      const size = r.announceSize?.get(name);
      if (size !== undefined) announced.set(sha256(b), String(size));
    }
  }
  // LFS objects come from a second listener: another origin, as the Hub sends them to a storage host.
  let storageOrigin = "";
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    requests.push(`${req.method} ${path}`);
    if (req.headers.authorization !== undefined) authorized.push(`${req.method} ${path}`);
    const lfs = /^\/lfs\/([0-9a-f]{64})$/.exec(path);
    if (lfs) {
      const body = blobs.get(lfs[1] ?? "");
      if (body === undefined) return void res.writeHead(404).end();
      const size = announced.get(lfs[1] ?? "");
      return serveBytes(req, res, body, { ETag: `"storage-${(lfs[1] ?? "").slice(0, 8)}"`, ...(size === undefined ? {} : { "X-Linked-Size": size }) });
    }
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const repo = m ? repos[m[1] ?? ""] : undefined;
    if (!m || repo === undefined) {
      res.writeHead(404, { "X-Error-Code": "RepoNotFound", "Content-Type": "application/json" });
      return void res.end(JSON.stringify({ error: "Repository not found" }));
    }
    if (repo.gated && !GOOD_TOKENS.includes(req.headers.authorization ?? "")) {
      res.writeHead(401, { "X-Error-Code": "GatedRepo", "Content-Type": "application/json" });
      return void res.end(JSON.stringify({ error: "Access to this model is restricted" }));
    }
    if (m[2] !== "main" && m[2] !== repo.commit) {
      res.writeHead(404, { "X-Error-Code": "RevisionNotFound" });
      return void res.end();
    }
    const name = m[3] ?? "";
    const body = repo.files.get(name);
    if (body === undefined) {
      res.writeHead(404, { "X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo.commit, "Content-Type": "application/json" });
      return void res.end(JSON.stringify({ error: "Entry not found" }));
    }
    if (repo.lfs?.has(name)) {
      const size = repo.announceSize?.get(name) ?? body.length;
      res.writeHead(302, {
        Location: `${storageOrigin}/lfs/${sha256(body)}`,
        "X-Repo-Commit": repo.commit,
        "X-Linked-Etag": `"${sha256(body)}"`,
        "X-Linked-Size": String(size),
      });
      return void res.end();
    }
    serveBytes(req, res, body, { "X-Repo-Commit": repo.commit, ETag: `"${gitOid(body)}"` });
  };
  const listen = async (): Promise<{ origin: string; close: () => Promise<void> }> => {
    const server = createServer(handler);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    const port = typeof addr === "object" && addr !== null ? addr.port : 0;
    return { origin: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
  };
  const hub = await listen();
  const storage = await listen();
  storageOrigin = storage.origin;
  return {
    url: hub.origin,
    requests,
    authorized,
    stop: async () => {
      await hub.close();
      await storage.close();
    },
  };
}

async function fixtureRepo(commit = "a".repeat(40)): Promise<FakeRepo> {
  const files = new Map<string, Buffer>();
  for (const name of await readdir(SNAPSHOT)) files.set(name, await readFile(join(SNAPSHOT, name)));
  return { commit, files, lfs: new Set(["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]) };
}

/** A writable copy of the fixture cache (symlinks kept as they are). */
async function cacheCopy(dir: string): Promise<string> {
  const dst = join(dir, "hub");
  await cp(FIXTURE_CACHE, dst, { recursive: true, verbatimSymlinks: true });
  return dst;
}

function isBaseNotFound(e: unknown): e is TruecastError {
  return e instanceof TruecastError && e.code === "BASE_NOT_FOUND";
}

// ---------------------------------------------------------------------------------------------------------------

test("environment: cache, endpoint and offline read as huggingface_hub reads them", () => {
  assert.equal(hfEnvironment({ HF_HUB_CACHE: "/c", HUGGINGFACE_HUB_CACHE: "/legacy", HF_HOME: "/h" }).cacheDir, "/c");
  assert.equal(hfEnvironment({ HUGGINGFACE_HUB_CACHE: "/legacy", HF_HOME: "/h" }).cacheDir, "/legacy");
  assert.equal(hfEnvironment({ HF_HOME: "/h" }).cacheDir, "/h/hub");
  assert.equal(hfEnvironment({ XDG_CACHE_HOME: "/x" }).cacheDir, "/x/huggingface/hub");
  assert.equal(hfEnvironment({}).cacheDir, join(homedir(), ".cache", "huggingface", "hub"));
  assert.equal(hfEnvironment({ HF_HOME: "~/hf" }).cacheDir, join(homedir(), "hf", "hub"));
  assert.equal(hfEnvironment({ HF_HOME: "/h" }).tokenPath, "/h/token");
  assert.equal(hfEnvironment({}).endpoint, "https://huggingface.co");
  assert.equal(hfEnvironment({ HF_ENDPOINT: "http://mirror.local/" }).endpoint, "http://mirror.local");
  for (const v of ["1", "ON", "yes", "True", "TRUE"]) assert.equal(envFlag(v), true, v);
  for (const v of [undefined, "", "0", "false", "no", "off", "2", "y"]) assert.equal(envFlag(v), false, String(v));
  assert.equal(hfEnvironment({ HF_HUB_OFFLINE: "yes" }).offline, true);
  assert.equal(hfEnvironment({ TRANSFORMERS_OFFLINE: "1" }).offline, true);
  // Python: os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
  assert.equal(hfEnvironment({ HF_HUB_OFFLINE: "", TRANSFORMERS_OFFLINE: "1" }).offline, true);
  assert.equal(hfEnvironment({ HF_HUB_OFFLINE: "0", TRANSFORMERS_OFFLINE: "1" }).offline, false);
});

test("token: HF_TOKEN first, else the token file, cleaned of line breaks", async () => {
  const t = await tempDir();
  try {
    await writeFile(join(t.dir, "token"), "hf_fromfile\n");
    assert.equal(await hfToken({ HF_HOME: t.dir }), "hf_fromfile");
    assert.equal(await hfToken({ HF_HOME: t.dir, HF_TOKEN: " hf_env\r\n" }), "hf_env");
    assert.equal(await hfToken({ HF_HOME: join(t.dir, "none") }), undefined);
  } finally {
    await t.cleanup();
  }
});

test("--base folder wins over the cache", async () => {
  const r = await resolveBaseModelFiles({
    modelId: MODEL, baseDir: fixture("h2o", "base-folder"), want: [...SMALL, "tokenizer.model"],
    env: { HF_HUB_CACHE: FIXTURE_CACHE, HF_HUB_OFFLINE: "1" },
  });
  assert.equal(r.from, "folder");
  assert.equal(r.dir, fixture("h2o", "base-folder"));
  assert.deepEqual([...r.files.keys()], SMALL);
  assert.equal(r.files.get("config.json"), join(fixture("h2o", "base-folder"), "config.json"));
});

test("an absolute path as the model id is a folder (llm_backbone may be a local path)", async () => {
  const r = await resolveBaseModelFiles({ modelId: fixture("h2o", "base-folder"), want: ["config.json"], env: { HF_HUB_OFFLINE: "1" } });
  assert.equal(r.from, "folder");
  assert.equal(r.files.get("config.json"), join(fixture("h2o", "base-folder"), "config.json"));
});

test("cache: refs/main → snapshot, symlinked files found, offline makes no request", async () => {
  let requests = 0;
  const counting: typeof fetch = async () => {
    requests++;
    throw new Error("no request expected");
  };
  const r = await resolveBaseModelFiles({
    modelId: MODEL, want: [...SMALL, "added_tokens.json", "tokenizer.model"], fetch: counting,
    env: { HF_HUB_CACHE: FIXTURE_CACHE, HF_HUB_OFFLINE: "1", HF_ENDPOINT: "http://127.0.0.1:9" },
  });
  assert.equal(r.from, "cache");
  assert.equal(r.commit, COMMIT);
  assert.equal(r.dir, SNAPSHOT);
  assert.deepEqual([...r.files.keys()], SMALL);
  const config = JSON.parse(await readFile(r.files.get("config.json") ?? "", "utf8")) as { architectures: string[] };
  assert.deepEqual(config.architectures, ["LlamaForCausalLM"]);
  assert.equal(requests, 0);
});

test("cache, online: files never downloaded are fetched at the snapshot's commit; .no_exist ones are not asked for", async () => {
  const t = await tempDir();
  const hub = await startFakeHub({ [MODEL]: { ...(await fixtureRepo(COMMIT)), files: new Map([["tokenizer.model", Buffer.from("sp")]]) } });
  try {
    const cache = await cacheCopy(t.dir);
    const r = await resolveBaseModelFiles({
      modelId: MODEL, want: ["config.json", "added_tokens.json", "tokenizer.model", "merges.txt"],
      env: { HF_HUB_CACHE: cache, HF_ENDPOINT: hub.url },
    });
    assert.equal(r.from, "cache");
    assert.deepEqual([...r.files.keys()], ["config.json", "tokenizer.model"]);
    assert.equal(await readFile(r.files.get("tokenizer.model") ?? "", "utf8"), "sp");
    assert.ok(!hub.requests.some((q) => q.includes("added_tokens.json") || q.includes("config.json")), hub.requests.join("\n"));
    assert.ok(hub.requests.some((q) => q === `GET /${MODEL}/resolve/${COMMIT}/merges.txt`), hub.requests.join("\n"));
    const marker = join(cache, "models--truecast-test--tiny-llama", ".no_exist", COMMIT, "merges.txt");
    assert.equal((await lstat(marker)).isFile(), true);
  } finally {
    await hub.stop();
    await t.cleanup();
  }
});

test("Hub: downloads into the cache layout (blobs, symlinked snapshot, refs/main); the next run finds them offline", async () => {
  const t = await tempDir();
  const repo = await fixtureRepo();
  const hub = await startFakeHub({ [MODEL]: repo });
  try {
    const cache = join(t.dir, "hub");
    const env = { HF_HUB_CACHE: cache, HF_ENDPOINT: hub.url };
    const r = await resolveBaseModelFiles({ modelId: MODEL, want: [...SMALL, "tokenizer.model"], env });
    assert.equal(r.from, "hub");
    assert.equal(r.commit, repo.commit);
    assert.deepEqual([...r.files.keys()], SMALL);
    const folder = join(cache, "models--truecast-test--tiny-llama");
    assert.equal(await readFile(join(folder, "refs", "main"), "utf8"), repo.commit);
    for (const name of SMALL) {
      const p = join(folder, "snapshots", repo.commit, name);
      assert.equal((await lstat(p)).isSymbolicLink(), true);
      assert.equal(await readlink(p), join("..", "..", "blobs", gitOid(repo.files.get(name) ?? Buffer.alloc(0))));
      assert.deepEqual(await readFile(p), repo.files.get(name));
    }
    assert.deepEqual((await readdir(join(folder, "blobs"))).filter((n) => n.includes("incomplete")), []);
    // the first file pins the commit; every later one is fetched at it
    assert.equal(hub.requests[0], `GET /${MODEL}/resolve/main/config.json`);
    assert.ok(hub.requests.slice(1).every((q) => q.includes(`/resolve/${repo.commit}/`)), hub.requests.join("\n"));
    assert.equal(hub.requests[1], `GET /${MODEL}/resolve/${repo.commit}/config.json`);
    const before = hub.requests.length;
    const again = await resolveBaseModelFiles({ modelId: MODEL, want: [...SMALL, "tokenizer.model"], env: { ...env, HF_HUB_OFFLINE: "1" } });
    assert.equal(again.from, "cache");
    assert.deepEqual([...again.files.keys()], SMALL);
    assert.equal(hub.requests.length, before);
  } finally {
    await hub.stop();
    await t.cleanup();
  }
});

test("HF_HUB_OFFLINE with nothing cached: BASE_NOT_FOUND naming the cache and offline, and no request", async () => {
  const t = await tempDir();
  const hub = await startFakeHub({ [MODEL]: await fixtureRepo() });
  try {
    const cache = join(t.dir, "empty");
    await assert.rejects(
      resolveBaseModelFiles({ modelId: MODEL, want: SMALL, env: { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: "true", HF_ENDPOINT: hub.url } }),
      (e: unknown) => {
        assert.ok(isBaseNotFound(e));
        assert.equal(
          e.message,
          `base model ${MODEL} not found: looked in the Hugging Face cache ${join(cache, "models--truecast-test--tiny-llama")} (no snapshot for main); ` +
            "the Hub (offline: HF_HUB_OFFLINE is set). Pass --base <folder> holding its config.json",
        );
        return true;
      },
    );
    assert.equal(hub.requests.length, 0);
  } finally {
    await hub.stop();
    await t.cleanup();
  }
});

test("a model the Hub does not have: BASE_NOT_FOUND naming the endpoint", async () => {
  const t = await tempDir();
  const hub = await startFakeHub({});
  try {
    await assert.rejects(
      resolveBaseModelFiles({ modelId: "nobody/nothing", want: SMALL, env: { HF_HUB_CACHE: t.dir, HF_ENDPOINT: hub.url } }),
      (e: unknown) => isBaseNotFound(e) && e.message.includes(`the Hub at ${hub.url} has no model nobody/nothing (HTTP 404)`) && e.message.endsWith("Pass --base <folder> holding its config.json"),
    );
  } finally {
    await hub.stop();
    await t.cleanup();
  }
});

test("a gated model: refused without a token, downloaded with HF_TOKEN", async () => {
  const t = await tempDir();
  const hub = await startFakeHub({ [MODEL]: { ...(await fixtureRepo()), gated: true } });
  try {
    const env = { HF_HUB_CACHE: join(t.dir, "hub"), HF_HOME: join(t.dir, "home"), HF_ENDPOINT: hub.url };
    await assert.rejects(
      resolveBaseModelFiles({ modelId: MODEL, want: ["config.json"], env }),
      (e: unknown) => isBaseNotFound(e) && e.message.includes("HTTP 401: private or gated; set HF_TOKEN"),
    );
    const r = await resolveBaseModelFiles({ modelId: MODEL, want: ["config.json"], env: { ...env, HF_TOKEN: "hf_good" } });
    assert.equal(r.from, "hub");
    assert.equal(r.files.size, 1);
    // a token that does not start with hf_ is sent as it is, and never to the storage host
    const w = await resolveBaseModelDir({ modelId: MODEL, env: { ...env, HF_HUB_CACHE: join(t.dir, "hub2"), HF_TOKEN: "api_org_good" } });
    assert.equal(w.from, "hub");
    assert.ok(hub.requests.some((q) => q.startsWith("GET /lfs/")));
    assert.deepEqual(hub.authorized.filter((q) => q.includes("/lfs/")), []);
  } finally {
    await hub.stop();
    await t.cleanup();
  }
});

test("the Hub unreachable: BASE_NOT_FOUND says it could not reach it", async () => {
  const t = await tempDir();
  try {
    await assert.rejects(
      resolveBaseModelFiles({ modelId: MODEL, want: ["config.json"], env: { HF_HUB_CACHE: t.dir, HF_ENDPOINT: "http://127.0.0.1:9" } }),
      (e: unknown) => isBaseNotFound(e) && e.message.includes("could not reach the Hub at http://127.0.0.1:9"),
    );
  } finally {
    await t.cleanup();
  }
});

test("--base that is not a folder, or lacks config.json: BASE_NOT_FOUND naming it", async () => {
  const missing = fixture("h2o", "no-such-folder");
  await assert.rejects(
    resolveBaseModelFiles({ modelId: MODEL, baseDir: missing, want: SMALL }),
    (e: unknown) => isBaseNotFound(e) && e.message.includes(`--base ${missing} (not a folder)`),
  );
  await assert.rejects(
    resolveBaseModelFiles({ modelId: MODEL, baseDir: fixture("h2o", "full"), want: SMALL }),
    (e: unknown) => isBaseNotFound(e) && e.message.includes(`--base ${fixture("h2o", "full")} (it has no config.json)`),
  );
});

test("a model id that could escape the cache folder is refused", async () => {
  for (const id of ["../evil", "a/b/c", "org--x/name", "a/.hidden"]) {
    await assert.rejects(
      resolveBaseModelFiles({ modelId: id, want: ["config.json"], env: { HF_HUB_CACHE: FIXTURE_CACHE, HF_HUB_OFFLINE: "1" } }),
      (e: unknown) => isBaseNotFound(e) && e.message.includes("is not a Hugging Face model id"),
      id,
    );
  }
});

test("weights folder: from the cache, the index and both shards", async () => {
  const r = await resolveBaseModelDir({ modelId: MODEL, env: { HF_HUB_CACHE: FIXTURE_CACHE, HF_HUB_OFFLINE: "1" } });
  assert.equal(r.from, "cache");
  assert.equal(r.dir, SNAPSHOT);
  assert.deepEqual(r.weights, ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]);
  assert.deepEqual([...r.files.keys()].sort(), ["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"]);
});

test("weights folder: downloaded from the Hub, LFS shards through the storage redirect, bytes intact", async () => {
  const t = await tempDir();
  const repo = await fixtureRepo();
  const hub = await startFakeHub({ [MODEL]: repo });
  try {
    const r = await resolveBaseModelDir({ modelId: MODEL, env: { HF_HUB_CACHE: join(t.dir, "hub"), HF_ENDPOINT: hub.url } });
    assert.equal(r.from, "hub");
    for (const shard of r.weights) {
      const bytes = await readFile(join(r.dir, shard));
      assert.equal(sha256(bytes), sha256(repo.files.get(shard) ?? Buffer.alloc(0)));
      // LFS blobs are named by the Hub's X-Linked-Etag (the sha256), as huggingface_hub names them, not by the
      // storage host's ETag
      assert.equal(await readlink(join(r.dir, shard)), `../../blobs/${sha256(repo.files.get(shard) ?? Buffer.alloc(0))}`);
    }
    assert.ok(hub.requests.some((q) => q.startsWith("GET /lfs/")));
  } finally {
    await hub.stop();
    await t.cleanup();
  }
});

test("a download shorter than announced is never kept", async () => {
  const t = await tempDir();
  const repo = await fixtureRepo();
  repo.announceSize = new Map([["model-00002-of-00002.safetensors", 999_999]]);
  const hub = await startFakeHub({ [MODEL]: repo });
  try {
    const cache = join(t.dir, "hub");
    await assert.rejects(
      resolveBaseModelDir({ modelId: MODEL, env: { HF_HUB_CACHE: cache, HF_ENDPOINT: hub.url } }),
      (e: unknown) => e instanceof TruecastError && e.code === "HUB_NETWORK" && e.message.includes("announced 999999 bytes"),
    );
    const blobs = await readdir(join(cache, "models--truecast-test--tiny-llama", "blobs"));
    assert.deepEqual(blobs.filter((b) => b.includes("incomplete")), []);
  } finally {
    await hub.stop();
    await t.cleanup();
  }
});

test("weights folder: a --base folder without weights says so", async () => {
  await assert.rejects(
    resolveBaseModelDir({ modelId: MODEL, baseDir: fixture("h2o", "deepspeed") }),
    (e: unknown) => isBaseNotFound(e) && e.message.includes("has config.json but no weights"),
  );
});

test("weights folder: a cached snapshot missing a shard, offline, names the shard", async () => {
  const t = await tempDir();
  try {
    const cache = await cacheCopy(t.dir);
    await rm(join(cache, "models--truecast-test--tiny-llama", "snapshots", COMMIT, "model-00002-of-00002.safetensors"));
    await assert.rejects(
      resolveBaseModelDir({ modelId: MODEL, env: { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: "1" } }),
      (e: unknown) =>
        isBaseNotFound(e) &&
        e.message.includes("lacks the shards model-00002-of-00002.safetensors its model.safetensors.index.json names; pass --base <folder> with the complete weights"),
    );
  } finally {
    await t.cleanup();
  }
});
