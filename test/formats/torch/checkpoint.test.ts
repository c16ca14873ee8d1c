import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { TruecastError } from "../../../src/errors.js";
import { OP } from "../../../src/formats/pickle/opcodes.js";
import { detectTorchFormat, readTorchCheckpoint, type TorchCheckpoint } from "../../../src/formats/torch/checkpoint.js";
import { isTorchTensor, type TorchTensor } from "../../../src/formats/torch/rebuild.js";
import { fixture } from "../../helpers.js";
import { call, dict, global, int, pickle, str, tensor, tuple } from "../pickle/builder.js";
import { buildZip, buildTorchZip, memoryAccess } from "./zip-builder.js";

const read = (bytes: Uint8Array, fileName = "ckpt.pt"): Promise<TorchCheckpoint> =>
  readTorchCheckpoint({ file: memoryAccess(bytes), fileName });

async function refused(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TruecastError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

function tensorAt(ck: TorchCheckpoint, key: string): TorchTensor {
  assert.ok(ck.value instanceof Map);
  const t = ck.value.get(key);
  assert.ok(t !== undefined && isTorchTensor(t), key);
  return t as unknown as TorchTensor;
}

const FLOATS = (n: number): Uint8Array => new Uint8Array(new Float32Array(Array.from({ length: n }, (_, i) => i)).buffer);

const oneTensor = (t: Parameters<typeof tensor>[0]): Uint8Array => pickle(dict([str("t"), tensor(t)]));

describe("torch checkpoint structure", () => {
  it("recognizes the zip format, the legacy format and the legacy tar format by their first bytes", async () => {
    assert.equal(detectTorchFormat(await readFile(fixture("torch", "dtypes.pt"))), "zip");
    assert.equal(detectTorchFormat(await readFile(fixture("torch", "legacy.pt"))), "legacy");
    const tar = new Uint8Array(512);
    tar.set(new TextEncoder().encode("ustar"), 257);
    assert.equal(detectTorchFormat(tar), "legacy-tar");
    assert.equal(detectTorchFormat(await readFile(fixture("torch", "not_a_checkpoint.pt"))), "unknown");
  });

  it("describes torch's tensors: dtype, shape, stride, storage offset, and where the storage lies in the file", async () => {
    const bytes = await readFile(fixture("torch", "views.pt"));
    const ck = await read(bytes, "views.pt");
    assert.equal(ck.prefix, "views/");
    const cols = tensorAt(ck, "cols");
    assert.deepEqual([cols.dtype, cols.itemSize, cols.shape, cols.stride, cols.storageOffset], ["F32", 4, [4, 3], [6, 1], 2]);
    assert.equal(cols.storage.byteLength, 24 * 4);
    const at = cols.storage.byteOffset;
    assert.deepEqual([...new Float32Array(bytes.buffer.slice(bytes.byteOffset + at, bytes.byteOffset + at + 96))], Array.from({ length: 24 }, (_, i) => i));
    const expand = tensorAt(ck, "expand");
    assert.deepEqual([expand.shape, expand.stride], [[4, 3], [0, 1]]);
    assert.equal(tensorAt(ck, "transpose").storage, tensorAt(ck, "rows").storage, "one storage, one descriptor");
  });

  it("rebuilds parameters, _rebuild_tensor_v3 with a dtype over an untyped storage, and _rebuild_from_type_v2", async () => {
    const storage = (cls: string, module = "torch") => [tuple(str("storage"), global(module, cls), str("0"), str("cpu"), int(8)), OP.BINPERSID];
    const v3 = call(global("torch._utils", "_rebuild_tensor_v3"), storage("UntypedStorage", "torch.storage"), int(1), tuple(int(3)), tuple(int(1)), OP.NEWFALSE, call(global("collections", "OrderedDict")), global("torch", "bfloat16"));
    const param = call(global("torch._utils", "_rebuild_parameter"), tensor({ cls: "ByteStorage", key: "0", numel: 8, offset: 0, size: [8], stride: [1] }), OP.NEWFALSE, call(global("collections", "OrderedDict")));
    const typed = call(global("torch._utils", "_rebuild_from_type_v2"), global("torch._utils", "_rebuild_tensor_v2"), global("torch._tensor", "Tensor"),
      tuple(storage("ByteStorage"), int(0), tuple(int(2)), tuple(int(1)), OP.NEWFALSE, call(global("collections", "OrderedDict"))), dict());
    const ck = await read(buildTorchZip({ pickle: pickle(dict([str("v3"), v3], [str("param"), param], [str("typed"), typed])), storages: { "0": new Uint8Array(8) } }));
    const t = tensorAt(ck, "v3");
    assert.deepEqual([t.dtype, t.itemSize, t.shape, t.storageOffset], ["BF16", 2, [3], 1]);
    assert.equal(tensorAt(ck, "param").dtype, "U8");
    assert.deepEqual(tensorAt(ck, "typed").shape, [2]);
  });

  it("finds data.pkl under whatever folder name the archive uses, and reads ZIP64 archives", async () => {
    const zip = buildTorchZip({ prefix: "my_model-v2", pickle: oneTensor({ cls: "FloatStorage", key: "0", numel: 3, offset: 0, size: [3], stride: [1] }), storages: { "0": FLOATS(3) }, zip64: true });
    const ck = await read(zip);
    assert.equal(ck.prefix, "my_model-v2/");
    assert.deepEqual(tensorAt(ck, "t").shape, [3]);
  });

  it("refuses the legacy tar format, saying which it is and how to re-save it", async () => {
    const tar = new Uint8Array(1024);
    tar.set(new TextEncoder().encode("ustar"), 257);
    await refused(read(tar, "old.tar.pt"), "TORCH_LEGACY",
      /^old\.tar\.pt is in the legacy PyTorch tar format \(torch ≤ 0\.3\).*re-save it with torch\.save\(obj, path\) on torch ≥ 1\.6$/);
  });

  it("refuses a file that is neither format", async () => {
    await refused(read(await readFile(fixture("torch", "not_a_checkpoint.pt")), "x.pt"), "TORCH_INVALID", /^x\.pt is neither a PyTorch checkpoint/);
  });

  it("refuses a zip without data.pkl, and one with two", async () => {
    await refused(read(buildZip([{ name: "a/readme.txt", data: new Uint8Array(1) }])), "TORCH_INVALID", /holds no data\.pkl; it is not a PyTorch checkpoint/);
    const pkl = pickle(dict());
    await refused(read(buildZip([{ name: "a/data.pkl", data: pkl }, { name: "b/data.pkl", data: pkl }])), "TORCH_INVALID", /holds 2 data\.pkl records/);
  });

  it("refuses a big-endian checkpoint, and a byteorder record it does not know", async () => {
    const pkl = oneTensor({ cls: "FloatStorage", key: "0", numel: 3, offset: 0, size: [3], stride: [1] });
    await refused(read(buildTorchZip({ pickle: pkl, storages: { "0": FLOATS(3) }, byteorder: "big" })), "TORCH_INVALID", /saved on a big-endian machine; .*re-save it on a little-endian/);
    await refused(read(buildTorchZip({ pickle: pkl, storages: { "0": FLOATS(3) }, byteorder: "middle" })), "TORCH_INVALID", /byteorder record says "middle"/);
    const ck = await read(buildTorchZip({ pickle: pkl, storages: { "0": FLOATS(3) }, byteorder: "little" }));
    assert.deepEqual(tensorAt(ck, "t").shape, [3]);
  });

  it("refuses a compressed data.pkl", async () => {
    await refused(read(buildZip([{ name: "a/data.pkl", data: pickle(dict()), method: 8 }])), "ZIP_INVALID", /record "a\/data\.pkl" is compressed/);
  });

  it("refuses a storage without its record", async () => {
    const pkl = oneTensor({ cls: "FloatStorage", key: "7", numel: 3, offset: 0, size: [3], stride: [1] });
    await refused(read(buildTorchZip({ pickle: pkl, storages: { "0": FLOATS(3) } })), "TORCH_INVALID", /storage "7" has no record data\/7/);
  });

  it("refuses a storage whose record size disagrees with its element count", async () => {
    const pkl = oneTensor({ cls: "FloatStorage", key: "0", numel: 4, offset: 0, size: [3], stride: [1] });
    await refused(read(buildTorchZip({ pickle: pkl, storages: { "0": FLOATS(3) } })), "TORCH_INVALID", /storage "0" holds 4 elements of 4 bytes \(16 bytes\) but its record has 12 bytes/);
  });

  it("refuses a view that reaches past its storage", async () => {
    const pkl = oneTensor({ cls: "FloatStorage", key: "0", numel: 6, offset: 1, size: [2, 3], stride: [3, 1] });
    await refused(read(buildTorchZip({ pickle: pkl, storages: { "0": FLOATS(6) } })), "TORCH_INVALID",
      /a tensor of storage "0" \(size \[2, 3\], stride \[3, 1\], storage offset 1\) reaches element 6 of a storage that holds 6 F32 elements/);
  });

  it("refuses a view whose size and stride differ in length", async () => {
    const pkl = oneTensor({ cls: "FloatStorage", key: "0", numel: 6, offset: 0, size: [2, 3], stride: [1] });
    await refused(read(buildTorchZip({ pickle: pkl, storages: { "0": FLOATS(6) } })), "TORCH_INVALID", /has size \[2, 3\] but stride \[1\]/);
  });

  it("refuses a persistent id that is not a storage", async () => {
    const pkl = pickle(dict([str("t"), [tuple(str("storage"), global("torch", "Size"), str("0"), str("cpu"), int(1)), OP.BINPERSID]]));
    await refused(read(buildTorchZip({ pickle: pkl, storages: {} })), "TORCH_INVALID", /persistent id names something that is not a storage class/);
  });
});
