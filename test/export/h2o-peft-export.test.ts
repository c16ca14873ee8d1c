/**
 * H2O LLM Studio LoRA experiments made by real transformers 4.44.2 and PEFT 0.12.0 (scripts/fixtures/h2o_peft.py),
 * exported through the CLI and compared with PEFT's own merge_and_unload() (float32, rounded once): bit for bit.
 * - GPT-2: Conv1D layers, attn.c_proj square; its layout comes from the architecture or adapter_config.json, never
 *   from the shape; a square weight nothing tells about is refused by name.
 * - an int4 run with lora_unfreeze_layers [lm_head]: the trained lm_head comes from checkpoint.pth, as it holds it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { cp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fixture, tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { TruecastError } from "../../src/errors.js";
import { openForExport } from "../../src/export/open-for-export.js";
import { openSafetensorsFile, openSafetensorsFolder } from "../../src/sources/safetensors.js";
import { openTorchFile } from "../../src/sources/torch.js";
import type { LoraReport } from "../../src/transforms/lora/index.js";
import { readAll, type Tensor } from "../support/read-tensors.js";

const F = (...p: string[]) => fixture("h2o-peft", ...p);
const ENV = { HF_HUB_OFFLINE: "1" };


/** Every tensor of the reference is in the export with the same dtype, shape and bytes. */
function assertBitIdentical(got: Map<string, Tensor>, reference: Map<string, Tensor>): void {
  for (const [name, want] of reference) {
    const t = got.get(name);
    assert.ok(t, `the export lacks ${name}`);
    assert.equal(t.dtype, want.dtype, `${name}: dtype`);
    assert.deepEqual(t.shape, want.shape, `${name}: shape`);
    assert.ok(Buffer.from(t.bytes).equals(Buffer.from(want.bytes)), `${name}: bytes differ from PEFT's merge`);
  }
}

async function exportTo(out: string, argv: string[]): Promise<{ stdout: string; got: Map<string, Tensor> }> {
  const r = await cli(["export", ...argv.slice(0, 1), out, ...argv.slice(1), "--json"], { env: ENV });
  assert.equal(r.code, 0, r.stderr);
  return { stdout: r.stdout, got: await readAll(await openSafetensorsFolder(out)) };
}

const reference = async (name: string) => readAll(await openSafetensorsFile(F(name, "reference.safetensors")));

/** A copy of the GPT-2 experiment in `dir`, without adapter_model/ unless kept. */
async function gpt2Experiment(dir: string, keepAdapter: boolean): Promise<string> {
  const exp = join(dir, "exp");
  await cp(F("gpt2-lora"), exp, { recursive: true });
  if (!keepAdapter) await rm(join(exp, "adapter_model"), { recursive: true });
  return exp;
}

/** A copy of the GPT-2 base whose config.json marks it remote code (auto_map): its layer types are unknown. */
async function remoteCodeBase(dir: string): Promise<string> {
  const base = join(dir, "base");
  await cp(F("gpt2-base"), base, { recursive: true });
  const config = JSON.parse(await readFile(join(base, "config.json"), "utf8")) as Record<string, unknown>;
  config.auto_map = { AutoModelForCausalLM: "modeling_custom.CustomGPT" };
  await writeFile(join(base, "config.json"), JSON.stringify(config, null, 2));
  return base;
}

const SQUARE = ["transformer.h.0.attn.c_proj.weight", "transformer.h.1.attn.c_proj.weight"];

test("H2O GPT-2 LoRA run (real PEFT): every tensor bit-identical to merge_and_unload, the square attn.c_proj merged as Conv1D", async () => {
  const t = await tempDir();
  try {
    const { got, stdout } = await exportTo(join(t.dir, "out"), [F("gpt2-lora"), "--base", F("gpt2-base")]);
    const ref = await reference("gpt2-lora");
    assert.equal(ref.size, 28);
    assertBitIdentical(got, ref);
    const base = await readAll(await openSafetensorsFolder(F("gpt2-base")));
    for (const name of SQUARE) {
      assert.equal(got.get(name)?.shape.join("x"), "32x32");
      assert.ok(!Buffer.from(got.get(name)?.bytes ?? []).equals(Buffer.from(base.get(name)?.bytes ?? [])), `${name} is merged`);
    }
    const report = JSON.parse(stdout) as { lora: LoraReport; source: { notes: string[] } };
    const cProj = report.lora.modules.find((m) => m.module === "transformer.h.0.attn.c_proj");
    assert.deepEqual([cProj?.layout, cProj?.layoutFrom], ["in×out", "architecture"]);
    assert.ok(report.source.notes.includes("LoRA settings from cfg.yaml, as adapter_model/adapter_config.json also records them, with fan_in_fan_out=true as PEFT set it"));
  } finally {
    await t.cleanup();
  }
});

test("H2O GPT-2 LoRA run without adapter_model/: the layout comes from the base architecture (gpt2), bit-identical", async () => {
  const t = await tempDir();
  try {
    const exp = await gpt2Experiment(t.dir, false);
    const { got, stdout } = await exportTo(join(t.dir, "out"), [exp, "--base", F("gpt2-base")]);
    assertBitIdentical(got, await reference("gpt2-lora"));
    const report = JSON.parse(stdout) as { lora: LoraReport };
    assert.ok(report.lora.modules.every((m) => m.layout === "in×out" && m.layoutFrom === "architecture"));
    assert.ok(report.lora.notes.includes("weight layouts decided: 8 by the base architecture (gpt2)"));
  } finally {
    await t.cleanup();
  }
});

test("H2O GPT-2 LoRA run on a remote-code base: adapter_config.json's fan_in_fan_out decides the square weights", async () => {
  const t = await tempDir();
  try {
    const exp = await gpt2Experiment(t.dir, true);
    const { got, stdout } = await exportTo(join(t.dir, "out"), [exp, "--base", await remoteCodeBase(t.dir)]);
    assertBitIdentical(got, await reference("gpt2-lora"));
    const report = JSON.parse(stdout) as { lora: LoraReport };
    const from = new Map(report.lora.modules.map((m) => [m.module, m.layoutFrom]));
    assert.equal(from.get("transformer.h.1.attn.c_proj"), "adapter config");
    assert.equal(from.get("transformer.h.1.attn.c_attn"), "shape");
  } finally {
    await t.cleanup();
  }
});

test("a square weight whose layout nothing tells is refused by name: exit 1, one line, nothing written", async () => {
  const t = await tempDir();
  try {
    const exp = await gpt2Experiment(t.dir, false);
    const base = await remoteCodeBase(t.dir);
    const out = join(t.dir, "out");
    const r = await cli(["export", exp, out, "--base", base], { env: ENV });
    assert.equal(r.code, 1, r.stdout);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^truecast: .*checkpoint\.pth: module "transformer\.h\.0\.attn\.c_proj": its weight is square \(lora_A \[4,32\], lora_B \[32,4\], base \[32,32\]\), so its shape cannot tell whether it is nn\.Linear \(stored \[out, in\]\) or Conv1D \(stored \[in, out\], fan_in_fan_out\)/);
    assert.match(r.stderr, /model_type "gpt2" is remote code .* and the adapter's config does not state fan_in_fan_out\. Nothing was written\. State the layout in .*adapter_model\/adapter_config\.json \("fan_in_fan_out": true for Conv1D, false for nn\.Linear\)/);
    assert.ok(!existsSync(out));
    assert.deepEqual((await readdir(t.dir)).sort(), ["base", "exp"]);
    await assert.rejects(openForExport({ source: exp, baseDir: base, policy: "keep", env: ENV }), (e: unknown) => e instanceof TruecastError && e.code === "LORA_LAYOUT_UNKNOWN");
  } finally {
    await t.cleanup();
  }
});

test("PEFT adapter (--adapter) on GPT-2 whose config says fan_in_fan_out false: Conv1D by module type, as PEFT merges it", async () => {
  const t = await tempDir();
  try {
    const adapter = join(t.dir, "adapter");
    await cp(F("gpt2-lora", "adapter_model"), adapter, { recursive: true });
    const config = JSON.parse(await readFile(join(adapter, "adapter_config.json"), "utf8")) as Record<string, unknown>;
    config.fan_in_fan_out = false;
    await writeFile(join(adapter, "adapter_config.json"), JSON.stringify(config, null, 2));
    const { got, stdout } = await exportTo(join(t.dir, "out"), [F("gpt2-base"), "--adapter", adapter]);
    assertBitIdentical(got, await reference("gpt2-lora"));
    const report = JSON.parse(stdout) as { lora: LoraReport };
    assert.ok(report.lora.notes.some((n) => n.startsWith("the adapter config says fan_in_fan_out=false, but 8 modules are Conv1D, stored [in, out]")));
    // and as PEFT saved it (fan_in_fan_out true)
    const plain = await exportTo(join(t.dir, "out2"), [F("gpt2-base"), "--adapter", F("gpt2-lora", "adapter_model")]);
    assertBitIdentical(plain.got, await reference("gpt2-lora"));
  } finally {
    await t.cleanup();
  }
});

test("cfg.yaml and adapter_model/adapter_config.json disagreeing on lora_alpha: refused, naming both values", async () => {
  const t = await tempDir();
  try {
    const exp = await gpt2Experiment(t.dir, true);
    const path = join(exp, "adapter_model", "adapter_config.json");
    const config = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
    config.lora_alpha = 16;
    await writeFile(path, JSON.stringify(config, null, 2));
    const out = join(t.dir, "out");
    const r = await cli(["export", exp, out, "--base", F("gpt2-base")], { env: ENV });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /^truecast: .*: cfg\.yaml and adapter_model\/adapter_config\.json disagree on lora_alpha \(cfg\.yaml 8, adapter_config\.json 16\)\./);
    assert.ok(!existsSync(out));
  } finally {
    await t.cleanup();
  }
});

test("int4 H2O LoRA run with lora_unfreeze_layers [lm_head]: the trained lm_head comes from checkpoint.pth as it holds it", async () => {
  const t = await tempDir();
  try {
    const { got, stdout } = await exportTo(join(t.dir, "out"), [F("llama-int4-unfreeze"), "--base", F("llama-base")]);
    const ref = await reference("llama-int4-unfreeze");
    assertBitIdentical(got, ref);
    assert.equal(got.size, ref.size);
    const ckpt = await readAll(await openTorchFile(F("llama-int4-unfreeze", "checkpoint.pth")));
    const trained = ckpt.get("model.backbone.base_model.model.lm_head.weight") ?? ckpt.get("backbone.base_model.model.lm_head.weight");
    assert.ok(trained, [...ckpt.keys()].slice(0, 3).join(", "));
    assert.equal(got.get("lm_head.weight")?.dtype, "F32");
    assert.ok(Buffer.from(got.get("lm_head.weight")?.bytes ?? []).equals(Buffer.from(trained.bytes)), "lm_head.weight is the checkpoint's");
    const base = await readAll(await openSafetensorsFolder(F("llama-base")));
    assert.equal(base.get("lm_head.weight")?.dtype, "BF16");
    // frozen weights are the base model's own, not the run's float32 copies
    assert.deepEqual(got.get("model.embed_tokens.weight")?.bytes, base.get("model.embed_tokens.weight")?.bytes);
    const report = JSON.parse(stdout) as { source: { notes: string[] }; mixedDtypes: boolean };
    assert.equal(report.mixedDtypes, true);
    const notes = report.source.notes;
    assert.ok(notes.includes("lora_unfreeze_layers [lm_head]: 1 weights trained in full, taken from checkpoint.pth as it holds them: lm_head.weight (F32)"), notes.join("\n"));
    assert.ok(notes.some((n) => n.startsWith("lm_head.weight is F32 in checkpoint.pth") && n.includes("the base model's is BF16")), notes.join("\n"));
    assert.ok(notes.includes("6 frozen weights taken from the base model in its own dtype, not the run's copies"), notes.join("\n"));
    assert.ok(!notes.some((n) => /frozen/.test(n) && /lm_head/.test(n)));
    // The model card says where the frozen weights came from, beside the Conversion line.
    const card = await readFile(join(t.dir, "out", "README.md"), "utf8");
    assert.match(card, /\n- Conversion: [^\n]*\n- Frozen weights: \d+ frozen weights come from the base model \S+, not from the experiment, whose checkpoint holds them bitsandbytes-quantized \(int4\)\.\n/);
  } finally {
    await t.cleanup();
  }
});

test("int4 H2O LoRA run with lora_unfreeze_layers, --dtype bfloat16: the trained lm_head is converted, not replaced by the base's", async () => {
  const t = await tempDir();
  try {
    const { got } = await exportTo(join(t.dir, "out"), [F("llama-int4-unfreeze"), "--base", F("llama-base"), "--dtype", "bfloat16"]);
    const lm = got.get("lm_head.weight");
    assert.equal(lm?.dtype, "BF16");
    const ref = await reference("llama-int4-unfreeze");
    const f32 = ref.get("lm_head.weight")?.bytes ?? new Uint8Array();
    const view = new DataView(f32.buffer, f32.byteOffset, f32.byteLength);
    const out = new DataView(lm.bytes.buffer, lm.bytes.byteOffset, lm.bytes.byteLength);
    for (let i = 0; i < f32.byteLength / 4; i++) {
      // round to nearest even into bfloat16 (the values are finite)
      const bits = view.getUint32(i * 4, true);
      const rounded = ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
      assert.equal(out.getUint16(i * 2, true), rounded, `lm_head.weight[${i}]`);
    }
  } finally {
    await t.cleanup();
  }
});
