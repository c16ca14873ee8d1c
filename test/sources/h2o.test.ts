import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TruecastError } from "../../src/errors.js";
import { H2O_KIND, isH2oExperiment, openH2oExperiment, type H2oExperiment } from "../../src/sources/h2o.js";
import type { TensorRef } from "../../src/sources/tensor-ref.js";
import { fixture, tempDir } from "../helpers.js";

interface Described {
  dtype: string;
  shape: number[];
  sha256: string;
}

const expected = JSON.parse(await readFile(fixture("h2o", "expected.json"), "utf8")) as Record<string, Record<string, Described>> & {
  commit: string;
};
const SNAPSHOT = fixture("h2o", "hf-cache", "models--truecast-test--tiny-llama", "snapshots", expected.commit);
/** The fixture cache, offline: no test here talks to a network. */
const ENV = { HF_HUB_CACHE: fixture("h2o", "hf-cache"), HF_HUB_OFFLINE: "1" };
const TOKENIZER = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"];

async function sha256Of(ref: TensorRef): Promise<string> {
  const h = createHash("sha256");
  let n = 0;
  for await (const chunk of ref.chunks(64)) {
    h.update(chunk);
    n += chunk.length;
  }
  assert.equal(n, ref.byteLength, ref.name);
  return h.digest("hex");
}

/** Every tensor's dtype, shape and bytes equal torch's own for the source key `keyOf(name)`. */
async function assertMatchesTorch(refs: readonly TensorRef[], table: Record<string, Described>, keyOf: (name: string) => string): Promise<void> {
  for (const ref of refs) {
    const want = table[keyOf(ref.name)];
    assert.ok(want, `no torch tensor ${keyOf(ref.name)} for ${ref.name}`);
    assert.equal(ref.dtype, want.dtype, ref.name);
    assert.deepEqual([...ref.shape], want.shape, ref.name);
    assert.equal(await sha256Of(ref), want.sha256, ref.name);
  }
}

async function open(name: string, extra: Partial<Parameters<typeof openH2oExperiment>[0]> = {}): Promise<H2oExperiment> {
  return openH2oExperiment({ dir: fixture("h2o", name), env: ENV, ...extra });
}

/** A copy of a fixture experiment whose cfg.yaml is edited by `edit`. */
async function variant(dir: string, name: string, edit: (cfg: string) => string, skip: string[] = []): Promise<string> {
  const out = join(dir, name);
  await mkdir(out, { recursive: true });
  for (const f of ["cfg.yaml", "checkpoint.pth", ...TOKENIZER, "config.json"]) {
    if (skip.includes(f)) continue;
    await copyFile(fixture("h2o", name, f), join(out, f)).catch(() => undefined);
  }
  await writeFile(join(out, "cfg.yaml"), edit(await readFile(fixture("h2o", name, "cfg.yaml"), "utf8")));
  return out;
}

const LLAMA_NAMES = [
  "model.embed_tokens.weight",
  "model.layers.0.self_attn.q_proj.weight",
  "model.layers.0.self_attn.k_proj.weight",
  "model.layers.0.self_attn.v_proj.weight",
  "model.layers.0.self_attn.o_proj.weight",
  "model.layers.0.mlp.gate_proj.weight",
  "model.layers.0.mlp.up_proj.weight",
  "model.layers.0.mlp.down_proj.weight",
  "model.layers.0.input_layernorm.weight",
  "model.layers.0.post_attention_layernorm.weight",
  "model.norm.weight",
  "lm_head.weight",
];

test("isH2oExperiment: cfg.yaml and checkpoint.pth", async () => {
  assert.equal(await isH2oExperiment(fixture("h2o", "full")), true);
  assert.equal(await isH2oExperiment(fixture("h2o", "base-folder")), false);
});

test("full fine-tune: backbone. stripped, bytes equal torch's, config from the cached base, tokenizer from the experiment", async () => {
  const m = await open("full");
  try {
    assert.equal(m.kind, H2O_KIND);
    assert.equal(m.path, fixture("h2o", "full"));
    assert.deepEqual(m.tensors.map((t) => t.name), LLAMA_NAMES);
    await assertMatchesTorch(m.tensors, expected["full"] ?? {}, (n) => `backbone.${n}`);
    assert.deepEqual(Object.fromEntries(m.files), {
      ...Object.fromEntries(TOKENIZER.map((n) => [n, fixture("h2o", "full", n)])),
      "cfg.yaml": fixture("h2o", "full", "cfg.yaml"),
      "config.json": join(SNAPSHOT, "config.json"),
      "generation_config.json": join(SNAPSHOT, "generation_config.json"),
    });
    assert.ok(m.notes.includes('stripped "backbone." from 12 keys'), m.notes.join("\n"));
    assert.ok(m.notes.some((n) => n.startsWith("from base model truecast-test/tiny-llama (cache ") && n.endsWith("config.json, generation_config.json")));
    assert.equal(m.h2o.cfg.llmBackbone, "truecast-test/tiny-llama");
    assert.equal(m.h2o.cfg.backboneDtype, "bfloat16");
    assert.equal(m.h2o.cfg.problemType, "text_causal_language_modeling");
    assert.equal(m.h2o.base?.from, "cache");
    assert.equal(m.baseModel, "truecast-test/tiny-llama");
    assert.equal(m.sidecars, undefined);
    assert.deepEqual(m.h2o.heads, []);
    assert.equal(m.h2o.lora, null);
    assert.equal(m.h2o.quantized, null);
  } finally {
    await m.close();
  }
});

test("--base folder supplies what the experiment lacks, before the cache", async () => {
  const m = await open("full", { baseDir: fixture("h2o", "base-folder") });
  try {
    assert.equal(m.files.get("config.json"), fixture("h2o", "base-folder", "config.json"));
    assert.equal(m.h2o.base?.from, "folder");
  } finally {
    await m.close();
  }
});

test("DeepSpeed save: a bare state dict without prefix; the experiment's own config.json is used", async () => {
  const m = await open("deepspeed");
  try {
    assert.deepEqual(m.tensors.map((t) => t.name), LLAMA_NAMES);
    await assertMatchesTorch(m.tensors, expected["deepspeed"] ?? {}, (n) => n);
    assert.equal(m.files.get("config.json"), fixture("h2o", "deepspeed", "config.json"));
    assert.equal(m.files.get("generation_config.json"), join(SNAPSHOT, "generation_config.json"));
    assert.ok(m.notes.includes('keys carry no "backbone." prefix (a DeepSpeed save)'), m.notes.join("\n"));
  } finally {
    await m.close();
  }
});

test("classification run: the head is set apart and classification_head.pth travels as H2O ships it", async () => {
  const m = await open("classification");
  try {
    assert.deepEqual(m.tensors.map((t) => t.name), LLAMA_NAMES);
    assert.deepEqual(m.h2o.heads.map((h) => h.name), ["classification_head.weight"]);
    await assertMatchesTorch(m.h2o.heads, expected["classification"] ?? {}, (n) => n);
    assert.equal(m.files.get("classification_head.pth"), fixture("h2o", "classification", "classification_head.pth"));
    assert.deepEqual([...(m.sidecars ?? new Map<string, readonly TensorRef[]>())].map(([f, ts]) => [f, ts.map((t) => t.name)]), [
      ["classification_head.safetensors", ["classification_head.weight"]],
    ]);
    assert.equal(m.h2o.cfg.numClasses, 3);
    assert.ok(m.notes.includes("head classification_head.weight [3, 32] F32 kept out of the model weights"), m.notes.join("\n"));
    assert.ok(m.notes.includes("classification_head.pth carried as it is (H2O ships heads as separate files)"));
  } finally {
    await m.close();
  }
});

test("LoRA run: base layers under plain names, LoRA tensors exposed unmerged with r, alpha and targets", async () => {
  const m = await open("lora");
  try {
    const wrap = "backbone.base_model.model.";
    assert.deepEqual(m.tensors.map((t) => t.name), LLAMA_NAMES);
    await assertMatchesTorch(m.tensors, expected["lora"] ?? {}, (n) =>
      /(q_proj|v_proj)\.weight$/.test(n) ? wrap + n.replace(/\.weight$/, ".base_layer.weight") : wrap + n,
    );
    const lora = m.h2o.lora;
    assert.ok(lora);
    assert.equal(lora.r, 4);
    assert.equal(lora.alpha, 16);
    assert.deepEqual(lora.targetModules, ["q_proj", "v_proj"]);
    assert.equal(lora.useDora, false);
    assert.deepEqual(lora.tensors.map((t) => t.name), [
      "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
      "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
      "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight",
      "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight",
    ]);
    await assertMatchesTorch(lora.tensors, expected["lora"] ?? {}, (n) =>
      "backbone." + n.replace(/\.(lora_[AB])\.weight$/, ".$1.default.weight"),
    );
    assert.deepEqual(
      m.notes.filter((n) => !n.startsWith("from base model") && !n.startsWith("checkpoint.pth:")),
      [
        'stripped "backbone." from 16 keys',
        `stripped PEFT's "base_model.model." from 16 keys`,
        "renamed 2 LoRA base layers (<module>.base_layer.weight → <module>.weight)",
        "LoRA run (r=4, alpha=16, targets q_proj, v_proj): 4 LoRA tensors set apart for the merge",
        "no adapter_model/adapter_config.json: LoRA settings from cfg.yaml, layer layouts from the base architecture",
      ],
    );
  } finally {
    await m.close();
  }
});

test("int8 run: quantized weights replaced by the base model's own, found in the cache", async () => {
  const m = await open("int8");
  try {
    const q = m.h2o.quantized;
    assert.ok(q);
    assert.equal(q.backboneDtype, "int8");
    const quantizedNames = LLAMA_NAMES.filter((n) => n.includes("_proj")).sort();
    assert.deepEqual(q.weights, quantizedNames);
    assert.equal(q.base.dir, SNAPSHOT);
    assert.deepEqual(q.base.weights, ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]);
    assert.deepEqual(m.tensors.map((t) => t.name), LLAMA_NAMES);
    // A quantized LoRA run trained only its LoRA weights: every weight comes from the base model, in its dtype.
    await assertMatchesTorch(m.tensors, expected["base"] ?? {}, (n) => n);
    assert.ok(m.tensors.every((t) => t.dtype === "BF16"));
    assert.deepEqual(q.companions.map((c) => c.name).filter((n) => n.includes("q_proj")), [
      "model.layers.0.self_attn.q_proj.SCB",
      "model.layers.0.self_attn.q_proj.weight_format",
    ]);
    assert.ok(
      m.notes.includes(`7 int8-quantized weights replaced by the base model's own (BF16) from ${SNAPSHOT} (cache); 14 bitsandbytes tensors dropped`),
      m.notes.join("\n"),
    );
    assert.ok(m.notes.includes(`${LLAMA_NAMES.length - 7} frozen weights taken from the base model in its own dtype, not the run's copies`), m.notes.join("\n"));
  } finally {
    await m.close();
  }
});

test("int8 run without the base weights: BASE_NOT_FOUND that names --base", async () => {
  const t = await tempDir();
  try {
    await assert.rejects(
      openH2oExperiment({ dir: fixture("h2o", "int8"), baseDir: fixture("h2o", "deepspeed"), env: ENV }),
      (e: unknown) => {
        assert.ok(e instanceof TruecastError && e.code === "BASE_NOT_FOUND", String(e));
        assert.match(e.message, /checkpoint\.pth: an int8 experiment: 7 weights \(e\.g\. model\.layers\.0\.mlp\.down_proj\.weight\) are bitsandbytes-quantized/);
        assert.match(e.message, /pass --base <folder> with the weights$/);
        return true;
      },
    );
  } finally {
    await t.cleanup();
  }
});

test("no config.json anywhere: BASE_NOT_FOUND saying where it looked", async () => {
  const t = await tempDir();
  try {
    const dir = await variant(t.dir, "full", (c) => c.replace("llm_backbone: truecast-test/tiny-llama", "llm_backbone: acme/unknown-model"));
    const cache = join(t.dir, "empty-cache");
    let requests = 0;
    const counting: typeof fetch = async () => {
      requests++;
      throw new Error("offline: no request expected");
    };
    await assert.rejects(
      openH2oExperiment({ dir, fetch: counting, env: { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: "1" } }),
      (e: unknown) =>
        e instanceof TruecastError &&
        e.code === "BASE_NOT_FOUND" &&
        e.message ===
          `${dir} has no config.json, so it is taken from its llm_backbone: base model acme/unknown-model not found: ` +
            `looked in the Hugging Face cache ${join(cache, "models--acme--unknown-model")} (no snapshot for main); ` +
            "the Hub (offline: HF_HUB_OFFLINE is set). Pass --base <folder> holding its config.json",
    );
    assert.equal(requests, 0);
  } finally {
    await t.cleanup();
  }
});

test("optional files the base cannot supply are left out with a note", async () => {
  const t = await tempDir();
  try {
    const dir = await variant(t.dir, "deepspeed", (c) => c.replace("llm_backbone: truecast-test/tiny-llama", "llm_backbone: acme/unknown-model"));
    const m = await openH2oExperiment({ dir, env: { HF_HUB_CACHE: join(t.dir, "none"), HF_HUB_OFFLINE: "1" } });
    try {
      assert.equal(m.files.has("generation_config.json"), false);
      assert.ok(m.notes.includes("generation_config.json not in the experiment and not found for acme/unknown-model: left out"), m.notes.join("\n"));
    } finally {
      await m.close();
    }
  } finally {
    await t.cleanup();
  }
});

test("an experiment without tokenizer files takes the base model's", async () => {
  const t = await tempDir();
  try {
    const dir = await variant(t.dir, "full", (c) => c, TOKENIZER);
    const m = await openH2oExperiment({ dir, env: ENV });
    try {
      for (const n of TOKENIZER) assert.equal(m.files.get(n), join(SNAPSHOT, n));
      assert.equal(m.files.has("added_tokens.json"), false);
    } finally {
      await m.close();
    }
  } finally {
    await t.cleanup();
  }
});

test("resized embeddings: config.json's vocab_size follows the checkpoint, in a copy removed on close", async () => {
  const m = await open("resized");
  const path = m.files.get("config.json") ?? "";
  try {
    assert.notEqual(path, join(SNAPSHOT, "config.json"));
    const config = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
    const base = JSON.parse(await readFile(join(SNAPSHOT, "config.json"), "utf8")) as Record<string, unknown>;
    assert.deepEqual(config, { ...base, vocab_size: 34 });
    // Edited, not re-serialized: the text is the base's with only the number changed (its 1e-06 stays).
    const baseText = await readFile(join(SNAPSHOT, "config.json"), "utf8");
    assert.equal(baseText.split('"vocab_size": 32').length, 2);
    assert.equal(await readFile(path, "utf8"), baseText.replace('"vocab_size": 32', '"vocab_size": 34'));
    assert.ok(m.notes.includes("config.json: vocab_size 32 → 34 to match model.embed_tokens.weight (H2O resized the embeddings for its tokenizer)"), m.notes.join("\n"));
    await assertMatchesTorch(m.tensors, expected["resized"] ?? {}, (n) => `backbone.${n}`);
  } finally {
    await m.close();
  }
  await assert.rejects(readFile(path), { code: "ENOENT" });
});
