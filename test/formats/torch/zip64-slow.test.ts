/**
 * A real ZIP64 checkpoint (> 4 GiB) written by PyTorch at test time. Slow and disk-hungry (about 4.1 GB in a
 * temporary folder, and as much memory in the Python process), so it runs only with TRUECAST_SLOW=1.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readTorchCheckpoint } from "../../../src/formats/torch/checkpoint.js";
import { isTorchTensor, type TorchTensor } from "../../../src/formats/torch/rebuild.js";
import { fileAccess } from "../../../src/formats/zip.js";
import { openTorchFile } from "../../../src/sources/torch.js";
import { tempDir } from "../../helpers.js";

const SLOW = process.env["TRUECAST_SLOW"] === "1";
const PYTHON = process.env["TRUECAST_TORCH_PYTHON"] ?? "/usr/bin/python3";
const BIG = 2 ** 32 + 64;

const WRITER = `
import sys, torch
big = torch.zeros(${BIG}, dtype=torch.uint8)
big[-8:] = torch.arange(1, 9, dtype=torch.uint8)
tail = torch.arange(256, dtype=torch.int16).to(torch.bfloat16).reshape(16, 16)
torch.save({"big": big, "tail": tail}, sys.argv[1])
`;

describe("ZIP64 checkpoint over 4 GiB written by PyTorch", { skip: SLOW ? false : "set TRUECAST_SLOW=1 to run" }, () => {
  it("reads the tensor stored past 4 GiB, and the end of the tensor that crosses it", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "big.pt");
      const py = spawnSync(PYTHON, ["-c", WRITER, path], { stdio: "inherit" });
      assert.equal(py.status, 0, "PyTorch wrote the checkpoint");
      const handle = await open(path, "r");
      let big: TorchTensor;
      try {
        const ck = await readTorchCheckpoint({ file: fileAccess(handle, (await handle.stat()).size), fileName: "big.pt" });
        assert.ok(ck.value instanceof Map);
        const b = ck.value.get("big");
        assert.ok(b !== undefined && isTorchTensor(b));
        big = b as unknown as TorchTensor;
        assert.equal(big.storage.byteLength, BIG);
        const last = Buffer.alloc(8);
        await handle.read(last, 0, 8, big.storage.byteOffset + BIG - 8);
        assert.deepEqual([...last], [1, 2, 3, 4, 5, 6, 7, 8]);
      } finally {
        await handle.close();
      }
      const m = await openTorchFile(path);
      const tail = m.tensors.find((t) => t.name === "tail");
      assert.ok(tail !== undefined);
      const parts: Uint8Array[] = [];
      for await (const c of tail.chunks(1 << 16)) parts.push(c);
      const got = Buffer.concat(parts);
      const want = Buffer.alloc(512);
      // bfloat16 of 0..255 is exact: the top 16 bits of the float32.
      for (let i = 0; i < 256; i++) want.writeUInt16LE(Buffer.from(new Float32Array([i]).buffer).readUInt16LE(2), i * 2);
      assert.deepEqual(got, want);
    } finally {
      await cleanup();
    }
  });
});
