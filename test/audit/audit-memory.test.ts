/**
 * `audit --values` streams: a model several times larger than the heap it is given is scanned to the end, under
 * a bounded heap, and its peak RSS stays far below the model's size. The model is written at test time.
 */
import assert from "node:assert/strict";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { serializeHeader, layoutTensors } from "../../src/formats/safetensors/header.js";
import { tempDir } from "../helpers.js";
import { cliChild } from "../support/cli-child.js";
import { writeFile } from "node:fs/promises";

const TENSORS = 12;
const TENSOR_BYTES = 24 * 1024 * 1024;

/** A bfloat16 model of TENSORS × TENSOR_BYTES (288 MB), one value at +inf in the last tensor; written chunk by chunk. */
async function writeBigModel(dir: string): Promise<void> {
  const entries = layoutTensors(Array.from({ length: TENSORS }, (_, i) => ({
    name: `model.layers.${String(i).padStart(2, "0")}.mlp.up_proj.weight`, dtype: "BF16" as const, shape: [TENSOR_BYTES / 2], byteLength: TENSOR_BYTES,
  })));
  const fh = await open(join(dir, "model.safetensors"), "w");
  try {
    await fh.write(serializeHeader(entries, { format: "pt" }));
    const chunk = new Uint16Array(1024 * 1024).fill(0x3f80); // 1.0
    for (let i = 0; i < entries.length; i++) {
      for (let done = 0; done < TENSOR_BYTES; done += chunk.byteLength) {
        if (i === entries.length - 1 && done === 0) chunk[0] = 0x7f80;
        await fh.write(new Uint8Array(chunk.buffer));
        chunk[0] = 0x3f80;
      }
    }
  } finally {
    await fh.close();
  }
  await writeFile(join(dir, "config.json"), JSON.stringify({ torch_dtype: "bfloat16" }));
}

describe("audit --values memory", () => {
  it("scans a 288 MB model under a 64 MB heap with a peak RSS under 160 MB", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await writeBigModel(dir);
      const r = await cliChild(["audit", dir, "--values", "--json"], { cwd: dir, env: {}, nodeFlags: ["--max-old-space-size=64"] });
      assert.equal(r.code, 1, r.rawStderr);
      const j = JSON.parse(r.stdout) as { findings: { code: string; tensors?: string[] }[]; tensors: { values?: { elements: number } }[] };
      assert.deepEqual(j.findings.map((f) => [f.code, f.tensors]), [["INF", [`model.layers.${TENSORS - 1}.mlp.up_proj.weight`]]]);
      assert.equal(j.tensors.reduce((n, t) => n + (t.values?.elements ?? 0), 0), (TENSORS * TENSOR_BYTES) / 2);
      assert.ok(r.maxRssBytes !== null && r.maxRssBytes < 160 * 1024 * 1024, `peak RSS ${r.maxRssBytes}`);
    } finally {
      await cleanup();
    }
  });
});
