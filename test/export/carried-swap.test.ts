/**
 * A carried file is checked where it is copied, not only before the weights are written: a tokenizer swapped for a
 * link to a secret while the shards are being written (minutes on a real model) must not end up in the export, and
 * the failed run leaves nothing behind, not even the parent folders it made for the output.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { exportModel } from "../../src/export/export.js";
import { tempDir } from "../helpers.js";
import { bf16Weights, writeModelFolder } from "../support/build-model.js";

test("a carried file replaced by a link outside the folder during the weight write is refused, and nothing is left at the output", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, "src");
    await writeModelFolder(src, {
      tensors: [{ name: "model.embed_tokens.weight", dtype: "BF16", shape: [4, 8], data: bf16Weights(32, 1) }],
      config: { architectures: ["LlamaForCausalLM"], torch_dtype: "bfloat16" },
      files: { "tokenizer.json": "{}\n" },
    });
    await mkdir(join(dir, "secret"));
    writeFileSync(join(dir, "secret", "token"), "hf_SECRET\n");
    const out = join(dir, "out");
    let swapped = false;
    await assert.rejects(
      exportModel({
        source: src,
        out,
        onEvent: (e) => {
          if (e.type !== "write" || swapped) return;
          // The check before the first byte has passed; now the folder's owner (or anyone who can write it) swaps.
          renameSync(join(src, "tokenizer.json"), join(dir, "tokenizer.json.orig"));
          symlinkSync(join("..", "secret", "token"), join(src, "tokenizer.json"));
          swapped = true;
        },
      }),
      (e: NodeJS.ErrnoException) => e.code === "LINK_OUTSIDE" && /tokenizer\.json is a link to .*secret.token, outside/.test(e.message),
    );
    assert.equal(swapped, true);
    assert.equal(existsSync(out), false);
    assert.deepEqual((await readdir(dir)).sort(), ["secret", "src", "tokenizer.json.orig"]);
  } finally {
    await cleanup();
  }
});

test("a run that fails after staging removes the parent folders it made for the output, and only those", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, "src");
    await writeModelFolder(src, {
      tensors: [{ name: "model.embed_tokens.weight", dtype: "BF16", shape: [4, 8], data: bf16Weights(32, 1) }],
      config: { architectures: ["LlamaForCausalLM"], torch_dtype: "bfloat16" },
      files: { "tokenizer.json": "{}\n" },
    });
    await mkdir(join(dir, "existing"));
    await mkdir(join(dir, "secret"));
    writeFileSync(join(dir, "secret", "token"), "hf_SECRET\n");
    let swapped = false;
    await assert.rejects(
      exportModel({
        source: src,
        out: join(dir, "existing", "a", "b", "out"),
        onEvent: (e) => {
          if (e.type !== "write" || swapped) return;
          renameSync(join(src, "tokenizer.json"), join(dir, "tokenizer.json.orig"));
          symlinkSync(join("..", "secret", "token"), join(src, "tokenizer.json"));
          swapped = true;
        },
      }),
      { code: "LINK_OUTSIDE" },
    );
    // existing/ was there before the run and stays (empty); a/ and b/ were made by it and are gone.
    assert.deepEqual(await readdir(join(dir, "existing")), []);
  } finally {
    await cleanup();
  }
});
