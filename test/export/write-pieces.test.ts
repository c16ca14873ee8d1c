/**
 * The shard writer hands the kernel at most WRITE_PIECE bytes per write() (one large write cost the benchmark
 * machine's kernel several times the CPU of the same bytes in 1 MiB writes), and the pieces land where they belong.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { repoRoot, tempDir } from "../helpers.js";
import { bf16Weights, writeModelFolder } from "../support/build-model.js";
import { exportModel } from "../../src/export/export.js";
import { WRITE_PIECE } from "../../src/export/write-shard.js";

test("a 3 MiB tensor is written in 1 MiB write() calls and reads back byte for byte", async () => {
  const { dir, cleanup } = await tempDir();
  const probe = await open(join(repoRoot(), "package.json"), "r");
  const proto = Object.getPrototypeOf(probe) as { write: (...a: unknown[]) => Promise<{ bytesWritten: number }> };
  await probe.close();
  const realWrite = proto.write;
  const lengths: number[] = [];
  try {
    const big = bf16Weights(1536 * 1024, 3); // 3 MiB: one read chunk, written before in one 3 MiB call
    const small = bf16Weights(64 * 32, 4);
    await writeModelFolder(join(dir, "m"), {
      tensors: [
        { name: "big.weight", dtype: "BF16", shape: [1536, 1024], data: big },
        { name: "small.weight", dtype: "BF16", shape: [64, 32], data: small },
      ],
      config: { torch_dtype: "bfloat16" },
    });
    proto.write = function (this: unknown, ...args: unknown[]) {
      lengths.push(typeof args[2] === "number" ? args[2] : (args[0] as Uint8Array).byteLength);
      return realWrite.apply(this, args);
    };
    await exportModel({ source: join(dir, "m"), out: join(dir, "out") });
    proto.write = realWrite;

    assert.equal(WRITE_PIECE, 1024 * 1024);
    assert.ok(lengths.length > 0);
    assert.ok(Math.max(...lengths) <= WRITE_PIECE, `largest write() was ${Math.max(...lengths)} bytes`);
    assert.equal(lengths.filter((n) => n === WRITE_PIECE).length, 3, "the 3 MiB tensor went as three 1 MiB calls");

    const file = await readFile(join(dir, "out", "model.safetensors"));
    const headerLength = Number(file.readBigUInt64LE(0));
    const header = JSON.parse(file.subarray(8, 8 + headerLength).toString("utf8")) as Record<string, { data_offsets: [number, number] }>;
    const bytesOf = (name: string) => {
      const [b, e] = (header[name] as { data_offsets: [number, number] }).data_offsets;
      return file.subarray(8 + headerLength + b, 8 + headerLength + e);
    };
    assert.ok(Buffer.from(big).equals(bytesOf("big.weight")));
    assert.ok(Buffer.from(small).equals(bytesOf("small.weight")));
  } finally {
    proto.write = realWrite;
    await cleanup();
  }
});
