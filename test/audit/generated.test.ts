/**
 * `audit` on folders generated at test time (generate.ts): each finding's rule, exact counts from exact bit
 * patterns, the card checks, unreadable files reported as findings, hostile names escaped, and a value scan
 * whose chunks split elements.
 */
import assert from "node:assert/strict";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { auditModel, type AuditResult } from "../../src/audit/audit.js";
import { openLocalStore } from "../../src/store/local-store.js";
import { repoRoot, tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { BF16, EMBED, HEAD, NORM, Q, baseConfig, baseTensors, bf16Tensor, f32Tensor, withTensors, writeCase } from "./generate.js";

let root = "";
let cleanup: () => Promise<void> = async () => {};
let n = 0;
before(async () => ({ dir: root, cleanup } = await tempDir("truecast-audit-")));
after(() => cleanup());

async function run(p: Parameters<typeof writeCase>[1], values = true, chunkBytes?: number): Promise<AuditResult> {
  const dir = await writeCase(join(root, `case-${n++}`), p);
  const store = await openLocalStore(dir);
  return auditModel({ store, values, ...(chunkBytes !== undefined ? { chunkBytes } : {}) });
}

function only(r: AuditResult, code: string) {
  const found = r.findings.filter((f) => f.code === code);
  assert.equal(found.length, 1, `${code} once in ${JSON.stringify(r.findings.map((f) => f.code))}`);
  return found[0] as (typeof found)[number];
}

describe("audit rules on generated models", () => {
  it("the generated base model has no finding at all", async () => {
    assert.deepEqual((await run({})).findings, []);
  });

  it("a nested text_config dtype that disagrees is CONFIG_DTYPE_MISMATCH naming its path", async () => {
    const r = await run({ config: baseConfig({ text_config: { torch_dtype: "float16" } }) }, false);
    const f = only(r, "CONFIG_DTYPE_MISMATCH");
    assert.match(f.message, /^config\.json text_config\.torch_dtype says "float16" but the tensors are bfloat16; .*\(loading in float16 overflows values beyond ±65504\)$/);
  });

  it("dtype (transformers 5's key) is checked as torch_dtype is; an unknown value is CONFIG_DTYPE_UNKNOWN", async () => {
    const r = await run({ config: baseConfig({ dtype: "float32", torch_dtype: "auto" }) }, false);
    assert.match(only(r, "CONFIG_DTYPE_MISMATCH").message, /^config\.json dtype says "float32"/);
    assert.equal(only(r, "CONFIG_DTYPE_UNKNOWN").severity, "warning");
  });

  it("mixed floating dtypes: MIXED_FLOAT_DTYPES names the minority tensors", async () => {
    const r = await run({ tensors: withTensors(baseTensors(), f32Tensor(NORM, [1, 1, 1, 1])) }, false);
    const f = only(r, "MIXED_FLOAT_DTYPES");
    assert.deepEqual(f.tensors, [NORM]);
    assert.equal(r.ok, true);
  });

  it("NaN, ±inf, float16-unsafe, all-zero and subnormal values are counted exactly", async () => {
    const tensors = withTensors(
      baseTensors(),
      bf16Tensor("model.layers.0.mlp.up_proj.weight", [BF16.nan, BF16.inf, BF16.negInf, BF16.big, BF16.one, BF16.one]),
      bf16Tensor("model.layers.0.mlp.down_proj.weight", [BF16.zero, BF16.zero, BF16.zero, 0x8000]),
      bf16Tensor("model.layers.0.mlp.gate_proj.weight", [BF16.subnormal, BF16.subnormal, BF16.one, BF16.one]),
      f32Tensor("model.layers.0.input_layernorm.weight", [65504, -70000, 65519.99, 1]),
    );
    const r = await run({ tensors, config: baseConfig() });
    assert.deepEqual(only(r, "NAN").tensors, ["model.layers.0.mlp.up_proj.weight"]);
    assert.match(only(r, "INF").message, /^2 values are ±inf in 1 tensor/);
    const wide = only(r, "WOULD_OVERFLOW_F16");
    assert.deepEqual([...(wide.tensors ?? [])].sort(), ["model.layers.0.input_layernorm.weight", "model.layers.0.mlp.up_proj.weight"]);
    assert.match(wide.message, /^2 values in 2 tensors/);
    assert.deepEqual(only(r, "ALL_ZERO").tensors, ["model.layers.0.mlp.down_proj.weight"]);
    assert.deepEqual(only(r, "SUBNORMAL_SHARE").tensors, ["model.layers.0.mlp.gate_proj.weight"]);
    const norm = r.tensors.find((t) => t.name === "model.layers.0.input_layernorm.weight")?.values;
    assert.deepEqual([norm?.atF16Max, norm?.overF16, norm?.absMax], [1, 1, 70000]);
    const up = r.tensors.find((t) => t.name === "model.layers.0.mlp.up_proj.weight")?.values;
    assert.deepEqual([up?.nan, up?.posInf, up?.negInf, up?.overF16, up?.absMax], [1, 1, 1, 1, 99840]);
    assert.equal(r.ok, false);
  });

  it("chunks that split elements give the same counts and digest as whole chunks", async () => {
    const tensors = withTensors(baseTensors(), f32Tensor(NORM, [65504, -70000, 0, 1e-40, 2, 3, 4]));
    const whole = (await run({ tensors }, true)).tensors.find((t) => t.name === NORM)?.values;
    const split = (await run({ tensors }, true, 6)).tensors.find((t) => t.name === NORM)?.values;
    assert.deepEqual(split, whole);
    assert.deepEqual([whole?.elements, whole?.subnormal, whole?.zero, whole?.atF16Max, whole?.overF16], [7, 1, 1, 1, 1]);
  });

  it("a tied head whose bytes differ from the embedding is TIED_HEAD_DIFFERS (an error)", async () => {
    const r = await run({ config: baseConfig({ tie_word_embeddings: true }) });
    const f = only(r, "TIED_HEAD_DIFFERS");
    assert.equal(f.severity, "error");
    assert.deepEqual(f.tensors, [HEAD, EMBED]);
  });

  it("an untied head that is missing is TIED_HEAD_MISSING; a tied one that is missing is fine", async () => {
    const tensors = baseTensors().filter((t) => t.name !== HEAD);
    assert.equal(only(await run({ tensors }, false), "TIED_HEAD_MISSING").severity, "error");
    assert.deepEqual((await run({ tensors, config: baseConfig({ tie_word_embeddings: true }) }, false)).findings, []);
  });

  it("a card stating another precision or base model than the files is flagged; truecast's own card is not", async () => {
    const card = "---\nbase_model: other/model\n---\n# x\n\nThe weights are float16.\n";
    const r = await run({ config: baseConfig({ _name_or_path: "org/base" }), files: { "README.md": card } }, false);
    assert.equal(only(r, "CARD_PRECISION_MISMATCH").message, "README.md states the weights are float16, but they are stored in bfloat16");
    assert.match(only(r, "CARD_BASE_MODEL_MISMATCH").message, /^README\.md names base_model other\/model, but config\.json says the model was made from org\/base$/);
    const own = "---\nbase_model: org/base\n---\n- Stored dtype: bfloat16\n- Source dtype: float32 (PyTorch checkpoint)\nConverted from float16.\n";
    assert.deepEqual((await run({ config: baseConfig({ _name_or_path: "org/base" }), files: { "README.md": own } }, false)).findings, []);
  });

  it("a truncated shard is a WEIGHTS_UNREADABLE finding, not a crash", async () => {
    const dir = await writeCase(join(root, `case-${n++}`));
    const path = join(dir, "model.safetensors");
    const bytes = await readFile(path);
    await writeFile(path, bytes.subarray(0, bytes.length - 10));
    const out = await cli(["audit", dir, "--json"]);
    assert.equal(out.code, 1);
    const j = JSON.parse(out.stdout) as { findings: { code: string; message: string }[] };
    const f = j.findings.find((x) => x.code === "WEIGHTS_UNREADABLE");
    assert.match(f?.message ?? "", /^model\.safetensors cannot be read \(ST_TRUNCATED\)/);
  });

  it("a folder without weights is NO_WEIGHTS", async () => {
    const dir = join(root, `case-${n++}`);
    await writeCase(dir);
    await rm(join(dir, "model.safetensors"));
    const out = await cli(["audit", dir, "--json"]);
    assert.equal(out.code, 1);
    const j = JSON.parse(out.stdout) as { findings: { code: string }[] };
    assert.deepEqual(j.findings.map((f) => f.code), ["NO_WEIGHTS"]);
  });

  it("tensor names with control characters are escaped in the human report", async () => {
    const evil = "model.x\n\u001b[2JPASS: all good";
    const out = await cli(["audit", await writeCase(join(root, `case-${n++}`), { tensors: withTensors(baseTensors(), bf16Tensor(evil, [0, 0])) }), "--values"]);
    assert.equal(out.code, 0);
    assert.equal(out.stdout.includes("\u001b"), false);
    assert.match(out.stdout, /model\.x\\n\\e\[2JPASS: all good/);
    assert.equal(out.stdout.split("\n").filter((l) => l.startsWith("PASS")).length, 1);
  });
});

describe("truecast audit: usage", () => {
  it("help, and usage errors exit 2 with one line", async () => {
    const help = await cli(["help", "audit"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^truecast audit <source> \[options\]\n/);
    assert.match((await cli(["--help"])).stdout, /truecast audit <source>/);
    for (const argv of [["audit"], ["audit", ".", "--valeus"], ["audit", "hf://org/model"], ["audit", "package.json"]]) {
      const out = await cli(argv, { cwd: repoRoot() });
      assert.equal(out.code, 2, `${argv.join(" ")}: ${out.stderr}`);
      assert.equal(out.stderr.split("\n").length, 2, out.stderr);
      assert.match(out.stderr, /^truecast: /);
    }
    assert.match((await cli(["audit", ".", "--valeus"])).stderr, /did you mean --values\?/);
  });

  it("a path that does not exist exits 1 with one line", async () => {
    const out = await cli(["audit", join(root, "nope")]);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /^truecast: .*nope does not exist; check the path\n$/);
    assert.equal(out.stdout, "");
  });
});
