/**
 * `truecast export` with a LoRA merge, end to end through the CLI: a PEFT adapter on a bfloat16 folder, an H2O LLM
 * Studio LoRA experiment, and an int4 experiment whose base weights come from the base model in a local Hugging Face
 * cache. Every merged weight is compared with the merge PyTorch computed (scripts/fixtures/lora.py, h2o_lora.py).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fixture, tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { openSafetensorsFile, openSafetensorsFolder } from "../../src/sources/safetensors.js";
import { readAll, type Tensor } from "../support/read-tensors.js";
import type { LoraReport } from "../../src/transforms/lora/index.js";

/** The local cache holding truecast-test/tiny-lora-base; offline so no test reaches the network. */
const CACHE_ENV = { HF_HUB_CACHE: fixture("h2o-lora-cache"), HF_HUB_OFFLINE: "1" };


const readFolder = async (dir: string) => readAll(await openSafetensorsFolder(dir));
const readFile1 = async (path: string) => readAll(await openSafetensorsFile(path));

/** Bit patterns on a line where neighbouring floats differ by 1 (both zeros are 0). */
function ordered(bits: number, signBit: number): number {
  return bits >= signBit ? -(bits - signBit) : bits;
}

/** Every element within 1 ulp of PyTorch's, and at least 99.99% of them bit-identical. */
function assertMatchesReference(name: string, got: Tensor | undefined, want: Tensor): void {
  assert.ok(got, `the export lacks ${name}`);
  assert.equal(got.dtype, want.dtype, `${name}: dtype`);
  assert.deepEqual(got.shape, want.shape, `${name}: shape`);
  assert.equal(got.bytes.byteLength, want.bytes.byteLength, `${name}: bytes`);
  const wide = want.dtype === "F32";
  const size = wide ? 4 : 2;
  const sign = wide ? 2 ** 31 : 0x8000;
  const a = new DataView(got.bytes.buffer, got.bytes.byteOffset, got.bytes.byteLength);
  const b = new DataView(want.bytes.buffer, want.bytes.byteOffset, want.bytes.byteLength);
  let identical = 0;
  const n = want.bytes.byteLength / size;
  for (let i = 0; i < n; i++) {
    const x = wide ? a.getUint32(i * 4, true) : a.getUint16(i * 2, true);
    const y = wide ? b.getUint32(i * 4, true) : b.getUint16(i * 2, true);
    const d = Math.abs(ordered(x, sign) - ordered(y, sign));
    assert.ok(d <= 1, `${name}: element ${i} is ${d} ulp from PyTorch's`);
    if (d === 0) identical++;
  }
  assert.ok(identical >= n * 0.9999, `${name}: ${identical} of ${n} elements bit-identical to PyTorch's`);
}

function sameBytes(name: string, got: Tensor | undefined, want: Tensor): void {
  assert.ok(got, `the export lacks ${name}`);
  assert.equal(got.dtype, want.dtype, `${name}: dtype`);
  assert.equal(createHash("sha256").update(got.bytes).digest("hex"), createHash("sha256").update(want.bytes).digest("hex"), `${name}: bytes`);
}

async function configOf(dir: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
}

test("export --adapter: merged weights equal PyTorch's, other tensors byte-identical, dtype bfloat16, every adapter tensor routed", async () => {
  const t = await tempDir();
  try {
    const out = join(t.dir, "out");
    const r = await cli(["export", fixture("lora", "base"), out, "--adapter", fixture("lora", "plain"), "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { lora: LoraReport; bitExact: number; computed: number; tensorCount: number; dtype: string };
    const got = await readFolder(out);
    const base = await readFolder(fixture("lora", "base"));
    const reference = await readFile1(fixture("lora", "plain", "reference.safetensors"));
    assert.equal(got.size, base.size);
    for (const [name, want] of reference) assertMatchesReference(name, got.get(name), want);
    for (const [name, want] of base) if (!reference.has(name)) sameBytes(name, got.get(name), want);
    assert.equal((await configOf(out)).torch_dtype, "bfloat16");
    assert.equal((await configOf(out)).dtype, "bfloat16");
    assert.equal(report.dtype, "bfloat16");
    assert.equal(report.computed, reference.size);
    assert.equal(report.bitExact, base.size - reference.size);

    // every tensor of the adapter file has one route, into the weight PyTorch merged it into
    const adapter = await readFile1(fixture("lora", "plain", "adapter_model.safetensors"));
    assert.deepEqual(report.lora.routes.map((x) => x.adapterTensor).sort(), [...adapter.keys()].sort());
    for (const route of report.lora.routes) {
      assert.equal(route.action, "merged");
      assert.equal(route.target, route.adapterTensor.replace(/^base_model\.model\./, "").replace(/\.lora_[AB]\.weight$/, ".weight"));
    }
    const expected = JSON.parse(await readFile(fixture("lora", "plain", "expected.json"), "utf8")) as {
      modules: Record<string, { changed: number; tooSmall: number; scaling: number; r: number }>;
    };
    assert.deepEqual(
      Object.fromEntries(report.lora.modules.map((m) => [m.module, { changed: m.weight.changed, tooSmall: m.weight.tooSmall, scaling: m.scaling, r: m.rank }])),
      expected.modules,
    );
  } finally {
    await t.cleanup();
  }
});

test("export --adapter: the human summary says how many tensors were merged", async () => {
  const t = await tempDir();
  try {
    const r = await cli(["export", fixture("lora", "base"), join(t.dir, "out"), "--adapter", fixture("lora", "plain")]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^merged lora adapter .*plain: 6 modules, 12 adapter tensors routed$/m);
    assert.match(r.stdout, /^ {2}elements changed by the merge: 26554 of 28672; too small to move: 2118$/m);
    assert.match(r.stdout, /^bit-exact: 7\/13 tensors \(6 merged\) · dtype bfloat16 · 1 shard/m);
  } finally {
    await t.cleanup();
  }
});

test("export --adapter --dtype float32: the float32 sum is written as it is (one rounding, none after)", async () => {
  const t = await tempDir();
  try {
    const out = join(t.dir, "out");
    const r = await cli(["export", fixture("lora", "base"), out, "--adapter", fixture("lora", "plain"), "--dtype", "float32", "--quiet"]);
    assert.equal(r.code, 0, r.stderr);
    const got = await readFolder(out);
    const reference = await readFile1(fixture("lora", "plain_f32", "reference.safetensors"));
    for (const [name, want] of reference) assertMatchesReference(name, got.get(name), want);
    assert.equal((await configOf(out)).torch_dtype, "float32");
    for (const [name, tensor] of got) assert.equal(tensor.dtype, "F32", name);
  } finally {
    await t.cleanup();
  }
});

/** Export an H2O experiment of h2o_lora.py and check the merge against its reference.safetensors. */
async function exportExperiment(name: string): Promise<{ got: Map<string, Tensor>; out: string; cleanup: () => Promise<void>; stdout: string }> {
  const t = await tempDir();
  const out = join(t.dir, "out");
  const r = await cli(["export", fixture(name), out, "--json"], { env: CACHE_ENV });
  assert.equal(r.code, 0, r.stderr);
  const got = await readFolder(out);
  const reference = await readFile1(fixture(name, "reference.safetensors"));
  assert.equal(reference.size, 3);
  for (const [tensor, want] of reference) {
    assert.equal(want.dtype, "BF16");
    assertMatchesReference(tensor, got.get(tensor), want);
  }
  for (const key of got.keys()) assert.doesNotMatch(key, /lora_|base_layer|absmax|quant_/, "no LoRA or bitsandbytes key is exported");
  return { got, out, cleanup: t.cleanup, stdout: r.stdout };
}

test("H2O LoRA experiment: checkpoint.pth's lora_A/lora_B are merged into its base_layer weights, in bfloat16", async () => {
  const { got, out, cleanup, stdout } = await exportExperiment("h2o-lora");
  try {
    const base = await readFile1(join(fixture("h2o-lora-cache"), "models--truecast-test--tiny-lora-base", "snapshots", "7a1e5c3b9d2f4a6081c7e5d3b1a9f7e5c3a1b9d7", "model.safetensors"));
    // the run's frozen weights are the base model's: unmerged ones come through unchanged
    for (const name of ["model.embed_tokens.weight", "model.layers.0.self_attn.k_proj.weight", "lm_head.weight"]) {
      sameBytes(name, got.get(name), base.get(name) as Tensor);
    }
    assert.equal(got.size, base.size);
    assert.equal((await configOf(out)).torch_dtype, "bfloat16");
    const report = JSON.parse(stdout) as { lora: LoraReport };
    assert.equal(report.lora.routes.length, 6);
    assert.deepEqual(report.lora.modules.map((m) => [m.module, m.rank, m.scaling, m.outputDtype]), [
      ["model.layers.0.self_attn.q_proj", 8, 2, "bfloat16"],
      ["model.layers.0.self_attn.v_proj", 8, 2, "bfloat16"],
      ["model.layers.0.mlp.down_proj", 8, 2, "bfloat16"],
    ]);
  } finally {
    await cleanup();
  }
});

test("int4 H2O LoRA experiment: merged into the base model's own bfloat16 weights from the HF cache, never float16", async () => {
  const { got, cleanup, stdout } = await exportExperiment("h2o-lora-int4");
  try {
    const base = await readFile1(join(fixture("h2o-lora-cache"), "models--truecast-test--tiny-lora-base", "snapshots", "7a1e5c3b9d2f4a6081c7e5d3b1a9f7e5c3a1b9d7", "model.safetensors"));
    for (const [name, tensor] of got) if (name.endsWith("_proj.weight")) assert.equal(tensor.dtype, "BF16", name);
    // quantized weights that carry no LoRA are the base model's, bit for bit
    for (const name of ["model.layers.0.self_attn.k_proj.weight", "model.layers.0.mlp.gate_proj.weight"]) {
      sameBytes(name, got.get(name), base.get(name) as Tensor);
    }
    const report = JSON.parse(stdout) as { lora: LoraReport };
    assert.ok(report.lora.modules.every((m) => (m.inputDtype as string) === "bfloat16" && (m.outputDtype as string) === "bfloat16"));
  } finally {
    await cleanup();
  }
});

test("int4 H2O LoRA experiment: --base <folder> gives the same merge as the cache", async () => {
  const t = await tempDir();
  try {
    const snapshot = join(fixture("h2o-lora-cache"), "models--truecast-test--tiny-lora-base", "snapshots", "7a1e5c3b9d2f4a6081c7e5d3b1a9f7e5c3a1b9d7");
    const out = join(t.dir, "out");
    const r = await cli(["export", fixture("h2o-lora-int4"), out, "--base", snapshot, "--quiet"], { env: { HF_HUB_OFFLINE: "1" } });
    assert.equal(r.code, 0, r.stderr);
    const got = await readFolder(out);
    for (const [name, want] of await readFile1(fixture("h2o-lora-int4", "reference.safetensors"))) assertMatchesReference(name, got.get(name), want);
  } finally {
    await t.cleanup();
  }
});

async function assertRefusedCleanly(argv: (out: string) => string[], code: string, message: RegExp): Promise<void> {
  const t = await tempDir();
  try {
    const out = join(t.dir, "out");
    const r = await cli(argv(out));
    assert.equal(r.code, 1, r.stdout);
    assert.equal(r.stdout, "");
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] ?? "", /^truecast: /);
    assert.match(r.stderr, message);
    assert.ok(!existsSync(out), `${out} must not exist`);
    assert.deepEqual(await readdir(t.dir), [], `nothing is left in ${t.dir} (code ${code})`);
  } finally {
    await t.cleanup();
  }
}

test("export --adapter with an unknown adapter key: exit 1, one line naming the key, nothing written", async () => {
  await assertRefusedCleanly(
    (out) => ["export", fixture("lora", "base"), out, "--adapter", fixture("lora", "bad_unknown_key")],
    "ADAPTER_INVALID",
    /q_proj\.lora_T\.weight" is a LoRA tensor truecast does not know; refusing to ignore it/,
  );
});

test("export --adapter whose merge is not finite: exit 1, one line naming the module, nothing written", async () => {
  await assertRefusedCleanly(
    (out) => ["export", fixture("lora", "base"), out, "--adapter", fixture("lora", "bad_nonfinite")],
    "MERGE_NONFINITE",
    /merging module "model\.layers\.0\.self_attn\.q_proj" gives .* in "model\.layers\.0\.self_attn\.q_proj\.weight" at \[\d+, \d+\]/,
  );
});
