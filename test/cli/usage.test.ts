import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { repoRoot, tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { closest, editDistance } from "../../src/cli/suggest.js";

test("no command prints the usage on stderr and exits 2; help <command> is the command's help; -V and --version both work", async () => {
  const none = await cli([]);
  assert.equal(none.code, 2);
  assert.equal(none.stdout, "");
  assert.match(none.stderr, /^truecast: turn fine-tuned LLM checkpoints/);
  assert.match(none.stderr, /truecast export <source> <out>/);

  const help = await cli(["help", "export"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^truecast export <source> <out> \[options\]/);
  assert.match(help.stdout, /--max-shard-size/);
  assert.match((await cli(["help", "publish"])).stdout, /^truecast publish <folder> <repo_id>/);
  const bad = await cli(["help", "exprot"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, 'truecast: unknown command "exprot"; did you mean `truecast export`? run `truecast --help` for the commands\n');

  for (const flag of ["-V", "--version", "-v"]) {
    const r = await cli([flag]);
    assert.equal(r.code, 0, flag);
    assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/, flag);
  }
});

test("an unknown option names the closest known one", async () => {
  const r = await cli(["export", "a", "b", "--dtyp", "bfloat16"]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "truecast: unknown option --dtyp; did you mean --dtype? (see `truecast export --help`)\n");
  const far = await cli(["export", "a", "b", "--frobnicate"]);
  assert.equal(far.stderr, "truecast: unknown option --frobnicate (see `truecast export --help`)\n");
  const pub = await cli(["publish", "a", "b/c", "--pubic"]);
  assert.match(pub.stderr, /did you mean --public\?/);
  assert.equal(closest("max-shard", ["max-shard-size", "force"]), "max-shard-size");
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(editDistance("ab", "ba"), 1);
});

test("options that would be silently ignored are usage errors", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["export", "a", "b", "--public"], /^truecast: --public goes with --push \(it only applies when publishing\)/],
    [["export", "a", "b", "--revision", "dev"], /^truecast: --revision goes with --push/],
    [["export", "a", "b", "--token-file", "t"], /^truecast: --token-file goes with --push/],
    [["export", "a", "b", "--token", "hf_x"], /^truecast: --token goes with --push/],
    [["export", "a", "b", "--create-pr"], /^truecast: --create-pr goes with --push/],
    [["export", "a", "b", "--commit-message", "m"], /^truecast: --commit-message goes with --push/],
    [["export", "a", "b", "--endpoint", "http://x"], /^truecast: --endpoint goes with --push/],
    [["export", "a", "b", "--keep-local"], /^truecast: --keep-local goes with --push/],
    [["export", "a", "b", "--license", "mit", "--model-card", "card.md"], /^truecast: --license cannot go with --model-card/],
    [["publish", "f", "a/b", "--token", "hf_x", "--token-file", "t"], /^truecast: --token and --token-file name two tokens; give one\n$/],
  ];
  for (const [argv, want] of cases) {
    const r = await cli(argv);
    assert.equal(r.code, 2, argv.join(" ") + ": " + r.stderr);
    assert.match(r.stderr, want);
    assert.equal(r.stderr.split("\n").length, 2, "one line");
    assert.equal(r.stdout, "");
  }
});

test("publish with its arguments in hf upload's order gets a hint, not 'does not exist'", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await mkdir(join(dir, "export"));
    await writeFile(join(dir, "export", "config.json"), "{}");
    const r = await cli(["publish", "acme/model", "export"], { cwd: dir, env: { HF_TOKEN: "hf_test" } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^truecast: acme\/model is not a folder but export is: the folder comes first/);
    assert.match(r.stderr, /did you mean `truecast publish export acme\/model`\?\n$/);
  } finally {
    await cleanup();
  }
});

test("inspect --quiet prints nothing and keeps the exit code", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const ok = await cli(["inspect", join(repoRoot(), "examples", "tiny-llama-bf16"), "--quiet"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout + ok.stderr, "");
    assert.notEqual((await cli(["inspect", join(repoRoot(), "examples", "tiny-llama-bf16")])).stdout, "");
    const q = await cli(["inspect", join(dir, "missing"), "--quiet"]);
    assert.equal(q.code, 1);
    assert.equal(q.stdout, "");
    assert.match(q.stderr, /^truecast: .*does not exist/);
  } finally {
    await cleanup();
  }
});
