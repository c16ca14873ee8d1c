import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot, tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { bf16, bf16Weights, writeModelFolder } from "../support/build-model.js";

const CONFIG = { architectures: ["LlamaForCausalLM"], torch_dtype: "float32", vocab_size: 4 };

async function model(dir: string) {
  await writeModelFolder(dir, {
    tensors: [
      { name: "a.weight", dtype: "BF16", shape: [16, 8], data: bf16Weights(128, 4) },
      { name: "b.weight", dtype: "BF16", shape: [2], data: bf16([70144, 1]) },
    ],
    config: CONFIG,
    files: { "tokenizer_config.json": "{}" },
  });
}

test("help and version exit 0; no command or an unknown one is a usage error", async () => {
  const help = await cli(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /truecast export <source> <out>/);
  assert.match((await cli(["export", "--help"])).stdout, /--max-shard-size/);
  assert.match((await cli(["--version"])).stdout, /^\d+\.\d+\.\d+\n$/);
  assert.equal((await cli([])).code, 2);
  const unknown = await cli(["frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stderr, 'truecast: unknown command "frobnicate"; run `truecast --help` for the commands\n');
});

test("usage errors are one line and exit 2", async () => {
  for (const argv of [["export", "only-one"], ["export", "a", "b", "--dtype", "int3"], ["export", "a", "b", "--bogus"], ["export", "a", "b", "--max-shard-size", "lots"]]) {
    const r = await cli(argv);
    assert.equal(r.code, 2, argv.join(" "));
    assert.match(r.stderr, /^truecast: .+\n$/);
    assert.equal(r.stderr.split("\n").length, 2, "one line");
  }
});

test("export prints a report ending in the bit-exact line; --json prints the whole report", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await model(join(dir, "m"));
    const r = await cli(["export", "m", "out"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const last = r.stdout.trimEnd().split("\n").at(-1);
    assert.equal(last, "bit-exact: 2/2 tensors · dtype bfloat16 · 1 shard · 260 B");
    assert.match(r.stdout, /config\.json: torch_dtype="float32" → torch_dtype=dtype="bfloat16"/);
    const j = await cli(["export", "m", "out2", "--json", "--dtype", "float32"], { cwd: dir });
    assert.equal(j.code, 0, j.stderr);
    const report = JSON.parse(j.stdout) as { dtype: string; bitExact: number; tensorCount: number; conversions: { changed: number }[] };
    assert.equal(report.dtype, "float32");
    assert.equal(report.bitExact, 0);
    assert.equal(report.tensorCount, 2);
    assert.equal(report.conversions[0]?.changed, 0);
    const converted = await cli(["export", "m", "out4", "--dtype", "float32"], { cwd: dir });
    assert.equal(converted.stdout.trimEnd().split("\n").at(-1), "converted: 2/2 tensors to float32 · dtype float32 · 1 shard · 520 B");
    const q = await cli(["export", "m", "out3", "--quiet"], { cwd: dir });
    assert.equal(q.stdout + q.stderr, "");
  } finally {
    await cleanup();
  }
});

test("an overflowing conversion exits 1 with one line and writes nothing", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await model(join(dir, "m"));
    const r = await cli(["export", "m", "out", "--dtype", "float16"], { cwd: dir });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^truecast: converting tensor "b\.weight" from BF16 to F16 would turn 1 finite value into infinity/);
    assert.equal(r.stderr.split("\n").length, 2);
    assert.equal(existsSync(join(dir, "out")), false);
    assert.deepEqual((await readdir(dir)).sort(), ["m"]);
  } finally {
    await cleanup();
  }
});

test("bad input: missing path, truncated file, not a model — one line each, exit 1, nothing written", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await model(join(dir, "m"));
    const missing = await cli(["export", "nope", "out"], { cwd: dir });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^truecast: .*nope does not exist/);
    const whole = await readFile(join(dir, "m", "model.safetensors"));
    await writeFile(join(dir, "cut.safetensors"), whole.subarray(0, whole.length - 10));
    const cut = await cli(["export", "cut.safetensors", "out"], { cwd: dir });
    assert.equal(cut.code, 1);
    assert.match(cut.stderr, /^truecast: .*cut\.safetensors.*truncated/);
    assert.doesNotMatch(cut.stderr, /at .*\.js/, "no stack trace without --debug");
    const dbg = await cli(["export", "cut.safetensors", "out", "--debug"], { cwd: dir });
    assert.match(dbg.stderr, /TruecastError/);
    await writeFile(join(dir, "notes.txt"), "hello");
    const notModel = await cli(["export", "notes.txt", "out"], { cwd: dir });
    assert.equal(notModel.code, 1);
    assert.match(notModel.stderr, /neither a safetensors file nor a PyTorch checkpoint/);
    assert.equal(existsSync(join(dir, "out")), false);
  } finally {
    await cleanup();
  }
});

test("inspect shows dtypes, shards and whether config.json tells the truth", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await model(join(dir, "m"));
    const r = await cli(["inspect", "m"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /tensors: 2 · parameters: 130 · 260 B/);
    assert.match(r.stdout, /dtypes by bytes: bfloat16 260 B/);
    assert.match(r.stdout, /model\.safetensors: 2 tensors, 260 B · metadata \{"format":"pt"\}/);
    assert.match(r.stdout, /config\.json: torch_dtype="float32" does NOT match the tensors \(bfloat16\)/);
    const j = JSON.parse((await cli(["inspect", "m", "--json"], { cwd: dir })).stdout) as { config: { matches: boolean }; parameters: number };
    assert.equal(j.config.matches, false);
    assert.equal(j.parameters, 130);
    await cli(["export", "m", "out"], { cwd: dir });
    assert.match((await cli(["inspect", "out"], { cwd: dir })).stdout, /config\.json: torch_dtype="bfloat16", dtype="bfloat16" matches the tensors/);
  } finally {
    await cleanup();
  }
});

test("the built bin runs as a real process: exit codes and one-line errors", { skip: !existsSync(join(repoRoot(), "dist", "src", "cli", "main.js")) && "not built" }, async () => {
  const run = promisify(execFile);
  const bin = join(repoRoot(), "dist", "src", "cli", "main.js");
  assert.notEqual(statSync(bin).mode & 0o111, 0, "the bin is executable, so npx truecast runs it");
  const direct = await run(bin, ["--version"]);
  assert.match(direct.stdout, /^\d+\.\d+\.\d+\n$/);
  const ok = await run(process.execPath, [bin, "--help"]);
  assert.match(ok.stdout, /truecast export/);
  await assert.rejects(run(process.execPath, [bin, "inspect", "/definitely/not/here"]), (e: { code?: number; stderr?: string }) => {
    assert.equal(e.code, 1);
    assert.equal(e.stderr, "truecast: /definitely/not/here does not exist; check the path\n");
    return true;
  });
});
