/**
 * The CLI holds its main thread's V8 young generation at its initial 2 MB (src/util/young-generation.ts), across the
 * worker threads it starts, whose heap set-up resets the flag that holds it. Measured in child processes, since the
 * hold is process-wide: the unheld control shows the workloads do grow an unheld young generation (to 16–32 MB).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { repoRoot, tempDir } from "../helpers.js";
import { bf16Weights, writeModelFolder } from "../support/build-model.js";

const run = promisify(execFile);
const MiB = 1024 * 1024;
/** The held new space: two semi-spaces of V8's initial 1 MB on 64-bit machines (twice that would be one growth). */
const HELD_MAX = 2 * MiB;

async function child(mode: "held" | "unheld", workers: number): Promise<{ largest: number; end: number }> {
  const script = join(repoRoot(), "dist", "test", "util", "young-generation-child.js");
  const { stdout } = await run(process.execPath, [script, mode, String(workers)], { timeout: 120_000 });
  return JSON.parse(stdout) as { largest: number; end: number };
}

test("held, the main thread's new space stays at 2 MB while workers start amid allocation; unheld it grows past 16 MB", async () => {
  const held = await child("held", 4);
  assert.ok(held.largest <= HELD_MAX, `held: new space reached ${held.largest / MiB} MB`);
  assert.equal(held.end, held.largest);
  const unheld = await child("unheld", 4);
  assert.ok(unheld.largest >= 16 * MiB, `unheld: new space reached only ${unheld.largest / MiB} MB, so the workload proves nothing`);
});

test("held with no worker started, the new space stays at 2 MB", async () => {
  const held = await child("held", 0);
  assert.ok(held.largest <= HELD_MAX, `held: new space reached ${held.largest / MiB} MB`);
});

test("the truecast command holds it from its start: an export that starts workers ends with a 2 MB new space", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const model = join(dir, "model");
    await writeModelFolder(model, {
      tensors: [
        { name: "a.weight", dtype: "BF16", shape: [256, 256], data: bf16Weights(256 * 256, 3) },
        { name: "b.weight", dtype: "BF16", shape: [64, 256], data: bf16Weights(64 * 256, 5) },
      ],
      config: { architectures: ["LlamaForCausalLM"], torch_dtype: "bfloat16", vocab_size: 4 },
    });
    const probeOut = join(dir, "probe.json");
    const probe = join(repoRoot(), "dist", "test", "util", "young-generation-probe.js");
    const main = join(repoRoot(), "dist", "src", "cli", "main.js");
    const { stdout } = await run(process.execPath, [`--import=${probe}`, main, "export", model, join(dir, "out"), "--dtype", "float16", "--allow-overflow", "--json"], {
      env: { PATH: process.env.PATH ?? "", TRUECAST_CACHE: join(dir, "cache"), YOUNG_GENERATION_PROBE: probeOut },
      timeout: 120_000,
    });
    assert.equal((JSON.parse(stdout) as { dtype?: string }).dtype, "float16");
    const { newSpace, workers } = JSON.parse(await readFile(probeOut, "utf8")) as { newSpace: number; workers: number };
    assert.ok(workers >= 1, `the export started ${workers} workers`);
    assert.ok(newSpace <= HELD_MAX, `the CLI's new space reached ${newSpace / MiB} MB`);
  } finally {
    await cleanup();
  }
});
