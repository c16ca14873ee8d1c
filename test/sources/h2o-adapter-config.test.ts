import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TruecastError } from "../../src/errors.js";
import { readH2oLoraConfig } from "../../src/sources/h2o-adapter-config.js";
import { parseH2oConfig } from "../../src/sources/h2o-config.js";
import { fixture, tempDir } from "../helpers.js";

const CFG = "llm_backbone: a/b\ntraining:\n    lora_r: 4\n    lora_alpha: 8\n    lora_target_modules: c_attn, c_proj, c_fc\n";
/** The adapter_config.json PEFT 0.12 wrote for the GPT-2 fixture run (r 4, alpha 8, fan_in_fan_out true). */
const PEFT_CONFIG = fixture("h2o-peft", "gpt2-lora", "adapter_model", "adapter_config.json");

async function withExperiment(edit: ((c: Record<string, unknown>) => void) | null, cfgText: string, run: (dir: string) => Promise<void>): Promise<void> {
  const t = await tempDir();
  try {
    if (edit !== null) {
      const c = JSON.parse(await readFile(PEFT_CONFIG, "utf8")) as Record<string, unknown>;
      edit(c);
      await mkdir(join(t.dir, "adapter_model"));
      await writeFile(join(t.dir, "adapter_model", "adapter_config.json"), JSON.stringify(c));
    }
    await run(t.dir);
  } finally {
    await t.cleanup();
  }
}

const read = (dir: string, cfgText = CFG) => readH2oLoraConfig({ dir, cfg: parseH2oConfig(cfgText, "cfg.yaml"), targetModules: ["c_attn", "c_proj", "c_fc"] });

test("no adapter_model/: cfg.yaml's settings, fan_in_fan_out not stated", async () => {
  await withExperiment(null, CFG, async (dir) => {
    const r = await read(dir);
    assert.equal(r.adapterConfig, null);
    assert.deepEqual([r.config.r, r.config.loraAlpha, r.config.fanInFanOutStated], [4, 8, false]);
    assert.deepEqual(r.notes, ["no adapter_model/adapter_config.json: LoRA settings from cfg.yaml, layer layouts from the base architecture"]);
    const unfrozen = await read(dir, `${CFG}    lora_unfreeze_layers: [lm_head]\n`);
    assert.match(unfrozen.notes[0] ?? "", /\(H2O writes none when lora_unfreeze_layers is set\)/);
  });
});

test("adapter_model/adapter_config.json agreeing with cfg.yaml: its fan_in_fan_out is stated", async () => {
  await withExperiment(() => undefined, CFG, async (dir) => {
    const r = await read(dir);
    assert.equal(r.adapterConfig, join(dir, "adapter_model", "adapter_config.json"));
    assert.deepEqual([r.config.r, r.config.loraAlpha, r.config.fanInFanOut, r.config.fanInFanOutStated], [4, 8, true, true]);
  });
});

for (const [what, edit, message] of [
  ["r", (c: Record<string, unknown>) => { c.r = 8; }, /disagree on lora_r \/ r \(cfg\.yaml 4, adapter_config\.json 8\)/],
  ["use_rslora", (c: Record<string, unknown>) => { c.use_rslora = true; }, /disagree on use_rslora \(cfg\.yaml false, adapter_config\.json true\)/],
  ["rank_pattern", (c: Record<string, unknown>) => { c.rank_pattern = { c_proj: 8 }; }, /disagree on rank_pattern \(set in adapter_config\.json; cfg\.yaml has no such setting\)/],
  ["target modules", (c: Record<string, unknown>) => { c.target_modules = ["c_attn"]; }, /disagree on target modules \(cfg\.yaml c_attn, c_proj, c_fc, adapter_config\.json c_attn\)/],
] as const) {
  test(`cfg.yaml and adapter_config.json disagreeing on ${what}: refused`, async () => {
    await withExperiment(edit, CFG, async (dir) => {
      await assert.rejects(read(dir), (e: unknown) => e instanceof TruecastError && e.code === "CONFIG_INVALID" && message.test(e.message) && /remove adapter_model\/adapter_config\.json\) and export again$/.test(e.message));
    });
  });
}
