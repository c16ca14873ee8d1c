/**
 * Multimodal configs state a dtype per sub-config (`text_config.torch_dtype`, `vision_config.torch_dtype`):
 * transformers 4.44 loads by the top-level key (checked with the real library: sub-configs saying float32 and
 * float16 beside a bfloat16 top-level key load as bfloat16) and writes null for sub-configs it did not cast. When
 * every floating tensor is written in one dtype, a sub-config key that states a dtype follows it; null stays null,
 * and every other byte stays.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { rewriteConfigDtype } from "../../src/export/config.js";
import { tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { bf16Weights, writeModelFolder } from "../support/build-model.js";

const CONFIG = [
  "{",
  '  "text_config": {',
  '    "rope_theta": 10000.0,',
  '    "torch_dtype": "float32"',
  "  },",
  '  "torch_dtype": "float32",',
  '  "vision_config": {"dtype": "float16", "torch_dtype": null, "nested": {"torch_dtype": "float32"}}',
  "}",
  "",
].join("\n");

test("rewriteConfigDtype: sub-configs' string dtype keys follow, null and deeper keys stay, other bytes stay", () => {
  assert.equal(
    rewriteConfigDtype(CONFIG, "BF16"),
    [
      "{",
      '  "dtype": "bfloat16",',
      '  "text_config": {',
      '    "rope_theta": 10000.0,',
      '    "torch_dtype": "bfloat16"',
      "  },",
      '  "torch_dtype": "bfloat16",',
      '  "vision_config": {"dtype": "bfloat16", "torch_dtype": null, "nested": {"torch_dtype": "float32"}}',
      "}",
      "",
    ].join("\n"),
  );
  // Mixed dtypes written: sub-configs are left as they are.
  assert.match(rewriteConfigDtype(CONFIG, "BF16", "config.json", false), /"text_config": \{\n {4}"rope_theta": 10000\.0,\n {4}"torch_dtype": "float32"/);
});

test("export: a multimodal config's text_config.torch_dtype is made to agree with the written bfloat16 weights", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, "src");
    await writeModelFolder(src, { tensors: [{ name: "w", dtype: "BF16", shape: [4, 8], data: bf16Weights(32, 3) }] });
    await writeFile(join(src, "config.json"), CONFIG);
    const r = await cli(["export", src, join(dir, "out")]);
    assert.equal(r.code, 0, r.stderr);
    const out = await readFile(join(dir, "out", "config.json"), "utf8");
    const parsed = JSON.parse(out) as { torch_dtype: string; text_config: { torch_dtype: string }; vision_config: { dtype: string; torch_dtype: null } };
    assert.equal(parsed.torch_dtype, "bfloat16");
    assert.equal(parsed.text_config.torch_dtype, "bfloat16");
    assert.equal(parsed.vision_config.dtype, "bfloat16");
    assert.equal(parsed.vision_config.torch_dtype, null);
    assert.match(out, /"rope_theta": 10000\.0,/);
  } finally {
    await cleanup();
  }
});
