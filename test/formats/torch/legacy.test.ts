import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { TruecastError } from "../../../src/errors.js";
import { OP } from "../../../src/formats/pickle/opcodes.js";
import { readLegacyCheckpoint } from "../../../src/formats/torch/legacy.js";
import { isTorchTensor, type TorchTensor } from "../../../src/formats/torch/rebuild.js";
import { fixture } from "../../helpers.js";
import { bytes, call, dict, global, int, pickle, str, tuple } from "../pickle/builder.js";
import { memoryAccess } from "./zip-builder.js";

const MAGIC = pickle(OP.LONG1, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19);
const VERSION = pickle(OP.BININT2, 0xe9, 0x03);
const sysInfo = (little: boolean) => pickle(dict([str("protocol_version"), int(1001)], [str("little_endian"), little ? OP.NEWTRUE : OP.NEWFALSE]));

/** A legacy file: one float tensor of 3 elements over storage "k" (with `viewMetadata` in its persistent id). */
function legacyFile(p: { little?: boolean; viewMetadata?: Parameters<typeof bytes>[0]; count?: number; cut?: number }): Uint8Array {
  const pid = tuple(str("storage"), global("torch", "FloatStorage"), str("k"), str("cpu"), int(3), p.viewMetadata ?? OP.NONE);
  const main = pickle(dict([str("t"), call(global("torch._utils", "_rebuild_tensor_v2"), [pid, OP.BINPERSID], int(0), tuple(int(3)), tuple(int(1)), OP.NEWFALSE, call(global("collections", "OrderedDict")))]));
  const keys = pickle(OP.MARK, str("k"), OP.LIST);
  const count = [p.count ?? 3, 0, 0, 0, 0, 0, 0, 0];
  const data = new Uint8Array(new Float32Array([1.5, -2, 3]).buffer);
  const all = bytes(MAGIC, VERSION, sysInfo(p.little ?? true), main, keys, count, data);
  return all.subarray(0, all.length - (p.cut ?? 0));
}

const read = (b: Uint8Array, firstWindowBytes?: number) =>
  readLegacyCheckpoint({ file: memoryAccess(b), fileName: "old.pt", maxPickleBytes: 1 << 20, ...(firstWindowBytes === undefined ? {} : { firstWindowBytes }) });

async function refused(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TruecastError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

describe("legacy torch format", () => {
  it("locates each storage after the pickles, growing the read window as needed", async () => {
    const file = legacyFile({});
    for (const window of [undefined, 16]) {
      const v = await read(file, window);
      assert.ok(v instanceof Map);
      const t = v.get("t") as unknown as TorchTensor;
      assert.ok(isTorchTensor(v.get("t") ?? null));
      assert.deepEqual([...new Float32Array(file.slice(t.storage.byteOffset, t.storage.byteOffset + 12).buffer)], [1.5, -2, 3]);
    }
  });

  it("reads torch's own legacy files the same with a small window", async () => {
    const file = await readFile(fixture("torch", "legacy.pt"));
    const a = await read(file);
    const b = await read(file, 32);
    assert.ok(a instanceof Map && b instanceof Map);
    for (const k of a.keys()) assert.deepEqual(b.get(k), a.get(k));
  });

  it("refuses a big-endian legacy file", async () => {
    await refused(read(legacyFile({ little: false })), "TORCH_INVALID", /saved on a big-endian machine/);
  });

  it("refuses storage views of very old files", async () => {
    await refused(read(legacyFile({ viewMetadata: tuple(str("k"), int(0), int(3)) })), "TORCH_LEGACY", /uses storage views of the legacy PyTorch format/);
  });

  it("refuses a storage whose element count disagrees with its tensors", async () => {
    await refused(read(legacyFile({ count: 4 })), "TORCH_INVALID", /storage "k" at byte \d+ holds 4 elements, but its tensors say 3/);
  });

  it("refuses a file that ends inside a storage", async () => {
    await refused(read(legacyFile({ cut: 1 })), "TORCH_INVALID", /the file ends inside storage "k"/);
  });

  it("refuses a file whose pickles are cut short", async () => {
    await refused(read(legacyFile({}).subarray(0, 40), 16), "PICKLE_INVALID", /the pickle ends inside/);
  });
});
