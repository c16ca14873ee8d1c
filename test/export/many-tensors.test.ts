import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot, tempDir } from "../helpers.js";
import { writeManyTensors } from "../formats/safetensors/huge-headers.js";

const run = promisify(execFile);
const CLI = join(repoRoot(), "dist", "src", "cli", "main.js");
/** Tensors in the test's shard: past the 130k at which collecting them with push(...) overflowed the call stack. */
const COUNT = 140_000;
/** Heap for the export: the old code needed over 320 MB for 200k tensors (853 MB RSS for 100k). */
const HEAP_MB = 256;

test(`a shard of ${COUNT} one-byte tensors exports bit for bit under a ${HEAP_MB} MB heap (was: stack overflow, then out of memory)`, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const source = join(dir, "many.safetensors");
    const out = join(dir, "out");
    await writeManyTensors(source, COUNT);
    const r = await run(process.execPath, [`--max-old-space-size=${HEAP_MB}`, CLI, "export", source, out], { timeout: 540_000 });
    assert.equal(r.stderr, "");
    assert.match(r.stdout, new RegExp(`bit-exact: ${COUNT}/${COUNT} tensors`));
    // The written shard holds the same tensors in the reference writer's order (by dtype, then name), same bytes.
    const written = await readFile(join(out, "model.safetensors"));
    const n = Number(written.readBigUInt64LE(0));
    const header = JSON.parse(written.subarray(8, 8 + n).toString("utf8")) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    assert.equal(Object.keys(header).length, COUNT + 1);
    const last = header[`model.layers.${COUNT - 1}.w`];
    assert.deepEqual([last?.dtype, last?.shape, (last?.data_offsets[1] ?? 0) - (last?.data_offsets[0] ?? 0)], ["U8", [1], 1]);
    assert.equal(written.length, 8 + n + COUNT);
  } finally {
    await cleanup();
  }
});
