/** The card and truecast-report.json say where the model came from, and never name a local path. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fixture, repoRoot, tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { configCorrections, publicName } from "../../src/export/provenance.js";
import { bf16, writeModelFolder } from "../support/build-model.js";

const EXAMPLE = join(repoRoot(), "examples", "tiny-llama-bf16");

test("the example's export: the card and the report name the version, date, options and the config.json correction", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const r = await cli(["export", EXAMPLE, join(dir, "out"), "--max-shard-size", "100KB", "--license", "apache-2.0"]);
    assert.equal(r.code, 0, r.stderr);
    const card = await readFile(join(dir, "out", "README.md"), "utf8");
    assert.match(card, /^## Provenance$/m);
    assert.match(card, /^- Tool: truecast \d+\.\d+\.\d+, `truecast export`, \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/m);
    assert.match(card, /^- Source: Hugging Face folder \(safetensors\) `tiny-llama-bf16`$/m);
    assert.match(card, /^- Options: `--max-shard-size 100000` `--license apache-2.0`$/m);
    assert.match(card, /^- Corrected: config.json `torch_dtype` "float16" → "bfloat16" \(measured from the written tensors\)$/m);
    const report = JSON.parse(await readFile(join(dir, "out", "truecast-report.json"), "utf8")) as Record<string, unknown> & {
      provenance: { version: string; options: Record<string, unknown>; corrections: unknown[]; source: { name: string } };
      source: { path: string };
      bytesByDtype: Record<string, number>;
      tensors: { dtype: string; digest: string }[];
    };
    assert.equal(report["schemaVersion"], 1);
    assert.equal(report["out"], undefined);
    assert.equal(report.source.path, "tiny-llama-bf16");
    assert.deepEqual(Object.keys(report.bytesByDtype), ["bfloat16"]);
    assert.ok(report.tensors.every((t) => t.dtype === "bfloat16" && /^(xxh3-64|sha256):/.test(t.digest)));
    assert.deepEqual(report.provenance.corrections, [
      { file: "config.json", key: "torch_dtype", from: "float16", to: "bfloat16" },
      { file: "config.json", key: "dtype", to: "bfloat16" },
    ]);
    const text = card + JSON.stringify(report);
    assert.ok(!text.includes(dir), "no local path in the card or the report");
    assert.ok(!text.includes(repoRoot()), "no local path in the card or the report");
    // A re-export does not carry the earlier run's report as its own.
    const again = await cli(["export", join(dir, "out"), join(dir, "again"), "--json"]);
    assert.equal(again.code, 0, again.stderr);
    const second = JSON.parse(again.stdout) as { files: string[]; schemaVersion: number };
    assert.equal(second.schemaVersion, 1);
    assert.deepEqual(second.files.filter((f) => f === "truecast-report.json"), ["truecast-report.json"]);
    assert.deepEqual((await readdir(join(dir, "again"))).sort(), ["README.md", "config.json", "generation_config.json", "model.safetensors", "truecast-report.json"]);
  } finally {
    await cleanup();
  }
});

test("an adapter under a secret local path appears by its folder name only", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const secret = join(dir, "home", "alice", "secret-client-x", "lora");
    await mkdir(join(dir, "home", "alice", "secret-client-x"), { recursive: true });
    await cp(fixture("lora", "plain"), secret, { recursive: true });
    const r = await cli(["export", fixture("lora", "base"), join(dir, "out"), "--adapter", secret]);
    assert.equal(r.code, 0, r.stderr);
    const card = await readFile(join(dir, "out", "README.md"), "utf8");
    const report = await readFile(join(dir, "out", "truecast-report.json"), "utf8");
    for (const text of [card, report]) {
      assert.ok(!text.includes("secret-client-x"), "the adapter's local path leaks");
      assert.ok(!text.includes("/home/alice"));
    }
    assert.match(card, /- Merged LoRA adapter: lora$/m);
    assert.match(card, /`--adapter lora`/);
  } finally {
    await cleanup();
  }
});

test("public names and corrections", () => {
  assert.equal(publicName("/home/alice/secret-client-x/lora/"), "lora");
  assert.equal(publicName("meta-llama/Llama-3.1-8B"), "meta-llama/Llama-3.1-8B");
  assert.equal(publicName("./runs/exp1"), "exp1");
  assert.deepEqual(configCorrections({ before: { torch_dtype: "bfloat16", dtype: "bfloat16" }, after: "bfloat16" }), []);
  assert.deepEqual(configCorrections(null), []);
});

test("an overflow allowed: the maximum absolute error is infinite, in the JSON report and in the card", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeModelFolder(join(dir, "m"), {
      tensors: [{ name: "b.weight", dtype: "BF16", shape: [2], data: bf16([70144, 1]) }],
      config: { architectures: ["LlamaForCausalLM"], torch_dtype: "bfloat16" },
    });
    const r = await cli(["export", join(dir, "m"), join(dir, "out"), "--dtype", "float16", "--allow-overflow", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { conversions: { from: string; to: string; toInfinity: number; maxAbsError: unknown; maxRelError: unknown }[] };
    assert.deepEqual(
      report.conversions.map((c) => [c.from, c.to, c.toInfinity, c.maxAbsError, c.maxRelError]),
      [["bfloat16", "float16", 1, "Infinity", "Infinity"]],
    );
    assert.equal(Number(report.conversions[0]?.maxAbsError), Infinity);
    const card = await readFile(join(dir, "out", "README.md"), "utf8");
    assert.match(card, /\| 1 \| bfloat16 \| float16 \| 1 \| 1 \| 0 \| ∞ \(overflow\) \|/);
  } finally {
    await cleanup();
  }
});
