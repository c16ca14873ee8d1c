/**
 * Issue 10 item 3: a bare checkpoint becomes a loadable model. Files beside a checkpoint file travel with it, a
 * folder holding one checkpoint opens as that checkpoint, `--base` (a folder or a Hub id from the cache) supplies what
 * the source lacks for every kind of source, and the card's snippet promises only what the folder can do.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fixture, tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { bf16Weights, writeModelFolder } from "../support/build-model.js";

/** A real PyTorch state dict (weight [2,3] + bias [2], float32) made by test/fixtures/torch's generator. */
const CKPT = fixture("torch", "parameters.pt");

const BASE_CONFIG = '{\n  "architectures": ["LlamaForCausalLM"],\n  "torch_dtype": "float32",\n  "from": "base"\n}\n';
const BASE_TOKENIZER = '{"model":{"type":"BPE"},"from":"base"}';
const BASE_GENERATION = '{"do_sample": true, "temperature": 0.6}\n';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const t = await tempDir();
  try {
    await fn(t.dir);
  } finally {
    await t.cleanup();
  }
}

/** A base model folder: config, tokenizer, generation config, its own card and weights (never carried). */
async function baseFolder(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "config.json"), BASE_CONFIG);
  await writeFile(join(dir, "tokenizer.json"), BASE_TOKENIZER);
  await writeFile(join(dir, "tokenizer_config.json"), '{"from":"base"}');
  await writeFile(join(dir, "generation_config.json"), BASE_GENERATION);
  await writeFile(join(dir, "README.md"), "# the base model's card\n");
  await writeFile(join(dir, "model.safetensors"), "not carried");
}

/** The keys that say where config.json came from and what it claims (its dtype keys are the export's to set). */
function pick(text: string): { from: unknown; torch_dtype: unknown } {
  const c = JSON.parse(text) as Record<string, unknown>;
  return { from: c["from"], torch_dtype: c["torch_dtype"] };
}

const read = (dir: string, name: string) => readFile(join(dir, name), "utf8");

test("export ckpt.pt alone: no config.json, and the card says the folder holds weights only (no from_pretrained) and how to fix it", async () => {
  await withDir(async (dir) => {
    await copyFile(CKPT, join(dir, "ckpt.pt"));
    const r = await cli(["export", "ckpt.pt", "out", "--quiet"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await readdir(join(dir, "out"))).sort(), ["README.md", "model.safetensors", "truecast-report.json"]);
    const card = await read(join(dir, "out"), "README.md");
    assert.doesNotMatch(card, /from_pretrained|AutoTokenizer|AutoModel/);
    assert.match(card, /This folder holds weights only: it has no config\.json/);
    assert.match(card, /--base <base model folder or Hub id>/);
  });
});

test("export ckpt.pt --base FOLDER: config, tokenizer and generation config come from the base (its README and weights never), the report says so", async () => {
  await withDir(async (dir) => {
    await copyFile(CKPT, join(dir, "ckpt.pt"));
    await baseFolder(join(dir, "base"));
    const r = await cli(["export", "ckpt.pt", "out", "--base", "base", "--json"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const out = join(dir, "out");
    assert.deepEqual((await readdir(out)).sort(), ["README.md", "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "truecast-report.json"]);
    assert.equal(await read(out, "tokenizer.json"), BASE_TOKENIZER);
    assert.equal(await read(out, "generation_config.json"), BASE_GENERATION);
    assert.deepEqual(pick(await read(out, "config.json")), { from: "base", torch_dtype: "float32" });
    const card = await read(out, "README.md");
    assert.doesNotMatch(card, /the base model's card/);
    assert.match(card, /from transformers import AutoModelForCausalLM, AutoTokenizer/);
    assert.match(card, /tokenizer = AutoTokenizer\.from_pretrained\(model_id\)/);
    const report = JSON.parse(r.stdout) as { source: { notes: string[] } };
    assert.ok(report.source.notes.some((n) => /^from the base model \(--base .*base\): config\.json, generation_config\.json, tokenizer\.json, tokenizer_config\.json$/.test(n)), report.source.notes.join("\n"));
  });
});

test("config.json beside a checkpoint file is carried as its own; no tokenizer files means no AutoTokenizer line", async () => {
  await withDir(async (dir) => {
    await mkdir(join(dir, "run"));
    await copyFile(CKPT, join(dir, "run", "ckpt.pt"));
    await writeFile(join(dir, "run", "config.json"), '{"architectures": ["LlamaForCausalLM"], "torch_dtype": "float32", "from": "beside"}');
    await writeFile(join(dir, "run", "notes.txt"), "a file that is no companion of the checkpoint");
    const r = await cli(["export", "run/ckpt.pt", "out", "--quiet"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await readdir(join(dir, "out"))).sort(), ["README.md", "config.json", "model.safetensors", "truecast-report.json"]);
    assert.match(await read(join(dir, "out"), "config.json"), /"from": "beside"/);
    const card = await read(join(dir, "out"), "README.md");
    assert.match(card, /from transformers import AutoModelForCausalLM\n/);
    assert.match(card, /model = AutoModelForCausalLM\.from_pretrained\(model_id, torch_dtype=torch\.float32\)/);
    assert.doesNotMatch(card, /AutoTokenizer/);
  });
});

test("a folder holding ckpt.pt + config.json opens as that checkpoint; the source's own files win over --base's", async () => {
  await withDir(async (dir) => {
    await mkdir(join(dir, "run"));
    await copyFile(CKPT, join(dir, "run", "ckpt.pt"));
    await writeFile(join(dir, "run", "config.json"), '{"architectures": ["LlamaForCausalLM"], "torch_dtype": "float32", "from": "run"}');
    await baseFolder(join(dir, "base"));
    const r = await cli(["export", "run", "out", "--base", "base", "--quiet"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(await read(join(dir, "out"), "config.json"), /"from": "run"/);
    assert.equal(await read(join(dir, "out"), "tokenizer.json"), BASE_TOKENIZER);
    const report = JSON.parse(await read(join(dir, "out"), "truecast-report.json")) as { tensors?: unknown; source: { kind: string } };
    assert.equal(report.source.kind, "PyTorch checkpoint");
  });
});

test("a folder with several weight files is refused naming them; --base that adds nothing is a usage error", async () => {
  await withDir(async (dir) => {
    await mkdir(join(dir, "two"));
    await copyFile(CKPT, join(dir, "two", "a.pt"));
    await copyFile(CKPT, join(dir, "two", "b.pth"));
    const two = await cli(["export", "two", "out"], { cwd: dir });
    assert.equal(two.code, 1);
    assert.match(two.stderr, /^truecast: .*two holds several weight files \(a\.pt, b\.pth\) and no model index; pass the checkpoint file itself/);
    await writeModelFolder(join(dir, "full"), {
      tensors: [{ name: "w", dtype: "BF16", shape: [8], data: bf16Weights(8, 1) }],
      config: { architectures: ["LlamaForCausalLM"], torch_dtype: "bfloat16" },
      files: { "tokenizer.json": "{}", "generation_config.json": "{}" },
    });
    await mkdir(join(dir, "base"));
    await writeFile(join(dir, "base", "config.json"), "{}");
    await writeFile(join(dir, "base", "tokenizer.json"), "{}");
    const useless = await cli(["export", "full", "out", "--base", "base"], { cwd: dir });
    assert.equal(useless.code, 2, useless.stderr);
    assert.match(useless.stderr, /^truecast: --base .*base adds nothing: .*full already has config\.json, a tokenizer/);
    assert.equal(existsSync(join(dir, "out")), false);
  });
});

test("--base as a Hub id is resolved through the Hugging Face cache (offline)", async () => {
  await withDir(async (dir) => {
    await copyFile(CKPT, join(dir, "ckpt.pt"));
    const commit = "0123456789abcdef0123456789abcdef01234567";
    const repo = join(dir, "cache", "models--acme--base");
    await mkdir(join(repo, "refs"), { recursive: true });
    await writeFile(join(repo, "refs", "main"), commit);
    await baseFolder(join(repo, "snapshots", commit));
    const env = { HF_HUB_CACHE: join(dir, "cache"), HF_HUB_OFFLINE: "1" };
    const r = await cli(["export", "ckpt.pt", "out", "--base", "acme/base", "--quiet"], { cwd: dir, env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(pick(await read(join(dir, "out"), "config.json")), { from: "base", torch_dtype: "float32" });
    assert.equal(await read(join(dir, "out"), "tokenizer.json"), BASE_TOKENIZER);
    assert.match(await read(join(dir, "out"), "README.md"), /^base_model: acme\/base$/m);
  });
});

test("files carried from beside a checkpoint or from --base obey the link rules: a link to outside its folder is refused", async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, "secret.json"), '{"secret": true}');
    await mkdir(join(dir, "run"));
    await copyFile(CKPT, join(dir, "run", "ckpt.pt"));
    await symlink(join(dir, "secret.json"), join(dir, "run", "config.json"));
    const beside = await cli(["export", "run/ckpt.pt", "out"], { cwd: dir });
    assert.equal(beside.code, 1);
    assert.match(beside.stderr, /^truecast: .*config\.json is a link to .*secret\.json, outside /);
    await copyFile(CKPT, join(dir, "ckpt.pt"));
    await baseFolder(join(dir, "base"));
    await symlink(join(dir, "secret.json"), join(dir, "base", "special_tokens_map.json"));
    const viaBase = await cli(["export", "ckpt.pt", "out", "--base", "base"], { cwd: dir });
    assert.equal(viaBase.code, 1);
    assert.match(viaBase.stderr, /^truecast: .*special_tokens_map\.json is a link to .*secret\.json, outside /);
    assert.equal(existsSync(join(dir, "out")), false);
  });
});

test("library: exportModel({ source, baseDir }) supplies the base's files as --base does", async () => {
  const { exportModel } = await import("../../src/index.js");
  await withDir(async (dir) => {
    await copyFile(CKPT, join(dir, "ckpt.pt"));
    await baseFolder(join(dir, "base"));
    const report = await exportModel({ source: join(dir, "ckpt.pt"), baseDir: join(dir, "base"), out: join(dir, "out") });
    assert.ok(report.files.includes("config.json") && report.files.includes("tokenizer.json"), report.files.join(", "));
    assert.equal(await read(join(dir, "out"), "tokenizer.json"), BASE_TOKENIZER);
  });
});
