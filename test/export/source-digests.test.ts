/**
 * The card and truecast-report.json list every source weight file with its size and SHA-256 (what `sha256sum`
 * prints), named relative to its input, for every kind of source; no local path appears in the output.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fixture, repoRoot, tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { randomBytes, writeSafetensors } from "../support/build-model.js";
import { startSourceDigests, waitForDigests, type SourceDigests, type SourceFileDigest } from "../../src/export/source-digests.js";
import { renderModelCard, type ModelCardParams } from "../../src/export/model-card.js";
import { TruecastError } from "../../src/errors.js";

const EXAMPLE = join(repoRoot(), "examples", "tiny-llama-bf16");
const H2O_CACHE = { HF_HUB_CACHE: fixture("h2o", "hf-cache"), HF_HUB_OFFLINE: "1" };
const SNAPSHOT = fixture("h2o", "hf-cache", "models--truecast-test--tiny-llama", "snapshots", "3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a098");

async function sha256sum(path: string): Promise<string> {
  return createHash("sha256").update(await readFile(path)).digest("hex");
}

/** What the listing must say of `path`: its size and the SHA-256 of its bytes. */
async function expected(path: string, name: string, role: SourceFileDigest["role"]): Promise<SourceFileDigest> {
  return { name, bytes: (await stat(path)).size, sha256: await sha256sum(path), role };
}

/** Every file of a folder, as text, for "no local path in the output". */
async function allText(dir: string): Promise<string> {
  let text = "";
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) text += (await readFile(join(e.parentPath, e.name))).toString("latin1");
  }
  return text;
}

/**
 * Export `argv[0]` into a fresh folder with --json; returns the source files the report, the JSON on stdout and the
 * card give, after checking that the three agree and that no local path is in the output.
 */
async function exportListing(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<SourceFileDigest[]> {
  const { dir, cleanup } = await tempDir();
  try {
    const out = join(dir, "out");
    const r = await cli(["export", ...argv.slice(0, 1), out, ...argv.slice(1), "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    const fromStdout = (JSON.parse(r.stdout) as { sourceFiles: SourceFileDigest[] }).sourceFiles;
    const report = JSON.parse(await readFile(join(out, "truecast-report.json"), "utf8")) as { schemaVersion: number; sourceFiles: SourceFileDigest[] };
    assert.equal(report.schemaVersion, 1);
    assert.deepEqual(report.sourceFiles, fromStdout);
    const card = await readFile(join(out, "README.md"), "utf8");
    for (const f of report.sourceFiles) {
      const input = f.role === "base" ? "base model" : f.role;
      assert.ok(card.includes(`| \`${f.name}\` | ${input} | ${f.bytes} | \`${f.sha256}\` |`), `the card lists ${f.name}:\n${card}`);
    }
    const text = await allText(out);
    for (const local of [dir, repoRoot(), fixture()]) assert.ok(!text.includes(local), `${local} appears in the output`);
    return report.sourceFiles;
  } finally {
    await cleanup();
  }
}

test("a safetensors file: its name, size and sha256sum", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const path = join(dir, "weights.safetensors");
    await writeSafetensors(path, [{ name: "w", dtype: "F32", shape: [3000], data: randomBytes(12000) }]);
    assert.deepEqual(await exportListing([path]), [await expected(path, "weights.safetensors", "source")]);
  } finally {
    await cleanup();
  }
});

test("a sharded safetensors folder: every shard by its name in the folder, in order, then a head file; the index is no weight file", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const sharded = join(dir, "sharded");
    const r = await cli(["export", EXAMPLE, sharded, "--max-shard-size", "100KB", "-q"]);
    assert.equal(r.code, 0, r.stderr);
    const shards = (await readdir(sharded)).filter((n) => n.endsWith(".safetensors")).sort();
    assert.ok(shards.length >= 2, `sharded: ${shards.join(", ")}`);
    // A head beside the weights (H2O's classification_head.safetensors) is a source weight file too, listed last.
    await writeSafetensors(join(sharded, "classification_head.safetensors"), [{ name: "classification_head.weight", dtype: "F32", shape: [2, 4], data: randomBytes(32) }]);
    const want = await Promise.all([...shards, "classification_head.safetensors"].map((n) => expected(join(sharded, n), n, "source")));
    assert.deepEqual(await exportListing([sharded]), want);
  } finally {
    await cleanup();
  }
});

test("PyTorch checkpoints (zip): a .pt file, and a sharded pytorch_model folder", async () => {
  const pt = fixture("torch", "views.pt");
  assert.deepEqual(await exportListing([pt]), [await expected(pt, "views.pt", "source")]);
  const folder = fixture("torch", "sharded");
  const names = ["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"];
  assert.deepEqual(await exportListing([folder]), await Promise.all(names.map((n) => expected(join(folder, n), n, "source"))));
});

test("an H2O LLM Studio experiment: checkpoint.pth", async () => {
  const ckpt = fixture("h2o", "full", "checkpoint.pth");
  assert.deepEqual(await exportListing([fixture("h2o", "full")], H2O_CACHE), [await expected(ckpt, "checkpoint.pth", "source")]);
});

test("an int8 H2O experiment: checkpoint.pth, then the base model's shards from the cache (their blob names)", async () => {
  const listing = await exportListing([fixture("h2o", "int8")], H2O_CACHE);
  const shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];
  assert.deepEqual(listing, [
    await expected(fixture("h2o", "int8", "checkpoint.pth"), "checkpoint.pth", "source"),
    ...(await Promise.all(shards.map((n) => expected(join(SNAPSHOT, n), n, "base")))),
  ]);
});

test("an int4 H2O LoRA experiment with --base <folder>: the base weights it reads are listed as the base model's", async () => {
  const base = fixture("h2o-lora-cache", "models--truecast-test--tiny-lora-base", "snapshots", "7a1e5c3b9d2f4a6081c7e5d3b1a9f7e5c3a1b9d7");
  assert.deepEqual(await exportListing([fixture("h2o-lora-int4"), "--base", base], { HF_HUB_OFFLINE: "1" }), [
    await expected(fixture("h2o-lora-int4", "checkpoint.pth"), "checkpoint.pth", "source"),
    await expected(join(base, "model.safetensors"), "model.safetensors", "base"),
  ]);
});

test("a PEFT adapter merged with --adapter: the base's weights, then the adapter's", async () => {
  const base = fixture("lora", "base", "model.safetensors");
  const adapter = fixture("lora", "plain", "adapter_model.safetensors");
  assert.deepEqual(await exportListing([fixture("lora", "base"), "--adapter", fixture("lora", "plain")]), [
    await expected(base, "model.safetensors", "source"),
    await expected(adapter, "adapter_model.safetensors", "adapter"),
  ]);
});

test("an H2O LoRA experiment with --base: the checkpoint holds the adapter, listed once", async () => {
  const F = (...p: string[]) => fixture("h2o-peft", ...p);
  const listing = await exportListing([F("gpt2-lora"), "--base", F("gpt2-base")], { HF_HUB_OFFLINE: "1" });
  assert.deepEqual(listing, [await expected(F("gpt2-lora", "checkpoint.pth"), "checkpoint.pth", "source")]);
});

test("a Hugging Face cache snapshot as the source: the digests are the blob names, which match sha256sum", async () => {
  const shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];
  const listing = await exportListing([SNAPSHOT]);
  assert.deepEqual(listing, await Promise.all(shards.map((n) => expected(join(SNAPSHOT, n), n, "source"))));
});

test("a cache blob's name is taken as its SHA-256 without reading the file (as the Hub's own clients do)", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    // A blob deliberately misnamed: had the file been read, the listing would give its real digest.
    const repo = join(dir, "hub", "models--acme--tiny");
    const snap = join(repo, "snapshots", "0123456789abcdef0123456789abcdef01234567");
    await mkdir(join(repo, "blobs"), { recursive: true });
    await mkdir(snap, { recursive: true });
    const named = "ab".repeat(32);
    await writeSafetensors(join(repo, "blobs", named), [{ name: "w", dtype: "F32", shape: [4], data: randomBytes(16) }]);
    await symlink(join("..", "..", "blobs", named), join(snap, "model.safetensors"));
    await writeFile(join(snap, "config.json"), "{}\n");
    const listing = await exportListing([snap]);
    assert.deepEqual(listing, [{ name: "model.safetensors", bytes: (await stat(join(snap, "model.safetensors"))).size, sha256: named, role: "source" }]);
    assert.notEqual(await sha256sum(join(snap, "model.safetensors")), named);
  } finally {
    await cleanup();
  }
});

test("a source file that changes during the export is refused (UNREADABLE, naming it); one listed twice is hashed once", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const path = join(dir, "model.safetensors");
    await writeFile(path, randomBytes(3_000_000));
    await symlink(path, join(dir, "alias.safetensors"));
    const twice = startSourceDigests([
      { path, name: "model.safetensors", role: "source" },
      { path: join(dir, "alias.safetensors"), name: "alias.safetensors", role: "adapter" },
    ]);
    assert.deepEqual(await twice.result(), [await expected(path, "model.safetensors", "source")]);
    // Hashed before the change, refused after it: the digest would not describe the bytes the export read.
    const digests = startSourceDigests([{ path, name: "model.safetensors", role: "source" }]);
    while (digests.progress().bytes < digests.progress().total || digests.progress().total === 0) await new Promise((r) => setTimeout(r, 10));
    const later = new Date(Date.now() + 60_000);
    await utimes(path, later, later);
    await assert.rejects(digests.result(), (e: unknown) => e instanceof TruecastError && e.code === "UNREADABLE" && e.message.includes(path) && /changed while it was being exported/.test(e.message));
    const cancelled = startSourceDigests([{ path, name: "model.safetensors", role: "source" }]);
    cancelled.cancel();
    await assert.rejects(cancelled.result());
  } finally {
    await cleanup();
  }
});

test("the card's table: a name cannot break out of its cell; no source files, no table", () => {
  const params: ModelCardParams = {
    storedDtype: "BF16", sourceDtype: "BF16", conversions: [], truecastVersion: "0.0.0", sourceKind: "safetensors file",
    provenance: { tool: "truecast", version: "0.0.0", date: "2026-01-01T00:00:00.000Z", command: "truecast export", options: {}, source: { kind: "safetensors file", name: "m" }, corrections: [] },
  };
  const sha = "0".repeat(64);
  const card = renderModelCard({ ...params, sourceFiles: [{ name: "a|b`c.safetensors", bytes: 7, sha256: sha, role: "base" }] });
  assert.ok(card.includes(`| \`a\\|b c.safetensors\` | base model | 7 | \`${sha}\` |`), card);
  assert.ok(!renderModelCard(params).includes("Source weight files"));
  assert.ok(!renderModelCard({ ...params, sourceFiles: [] }).includes("Source weight files"));
});

test("files hashed by several threads at once come back in the order given, each with its own digest", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const files = [];
    for (let i = 0; i < 5; i++) {
      const path = join(dir, `model-0000${i + 1}-of-00005.safetensors`);
      await writeFile(path, randomBytes(1_000_000 * (5 - i), i + 1));
      files.push({ path, name: `model-0000${i + 1}-of-00005.safetensors`, role: "source" as const });
    }
    const digests = startSourceDigests(files, { threads: 3 });
    const got = await digests.result();
    assert.deepEqual(got, await Promise.all(files.map((f) => expected(f.path, f.name, "source"))));
    assert.deepEqual(digests.progress(), { bytes: 15_000_000, total: 15_000_000 });
  } finally {
    await cleanup();
  }
});

test("waiting for digests still running reports their progress (the CLI's 'hashing source files' phase); finished ones report nothing", async () => {
  const fake = (bytes: number, total: number): SourceDigests => ({
    progress: () => ({ bytes, total }),
    result: () => new Promise((resolve) => setTimeout(() => resolve([]), 50)),
    cancel: () => undefined,
  });
  const heard: [number, number][] = [];
  assert.deepEqual(await waitForDigests(fake(5, 10), (b, t) => heard.push([b, t])), []);
  assert.deepEqual(heard[0], [5, 10]);
  heard.length = 0;
  await waitForDigests(fake(10, 10), (b, t) => heard.push([b, t]));
  assert.deepEqual(heard, []);
});
