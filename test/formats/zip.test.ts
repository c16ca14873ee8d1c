import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { TruecastError } from "../../src/errors.js";
import { readZipDirectory, storedRange, type ZipEntry } from "../../src/formats/zip.js";
import { fixture } from "../helpers.js";
import { buildZip, memoryAccess } from "./torch/zip-builder.js";

const enc = new TextEncoder();

async function entriesOf(bytes: Uint8Array, fileName = "test.zip"): Promise<ReadonlyMap<string, ZipEntry>> {
  return (await readZipDirectory({ file: memoryAccess(bytes), fileName })).entries;
}

function dataOf(bytes: Uint8Array, e: ZipEntry): string {
  const { offset, length } = storedRange("test.zip", e);
  return new TextDecoder().decode(bytes.subarray(offset, offset + length));
}

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TruecastError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

const RECORDS = [
  { name: "a/data.pkl", data: enc.encode("pickle bytes") },
  { name: "a/data/0", data: enc.encode("0123456789") },
  { name: "a/empty", data: new Uint8Array(0) },
];

describe("zip central directory", () => {
  it("locates each stored record's data, past its local header's name and extra field", async () => {
    for (const opts of [{}, { align: 64 }, { comment: "a comment with PK\x05\x06 inside" }]) {
      const zip = buildZip(RECORDS, opts);
      const entries = await entriesOf(zip);
      assert.deepEqual([...entries.keys()], ["a/data.pkl", "a/data/0", "a/empty"]);
      assert.equal(dataOf(zip, entries.get("a/data/0") as ZipEntry), "0123456789");
      assert.equal(dataOf(zip, entries.get("a/data.pkl") as ZipEntry), "pickle bytes");
      assert.equal(dataOf(zip, entries.get("a/empty") as ZipEntry), "");
      if ("align" in opts) for (const e of entries.values()) assert.equal(e.dataOffset % 64, 0);
    }
  });

  it("reads ZIP64 end records, locators and extra fields", async () => {
    const zip = buildZip(RECORDS, { zip64: true });
    const entries = await entriesOf(zip);
    const e = entries.get("a/data/0") as ZipEntry;
    assert.equal(e.uncompressedSize, 10n);
    assert.equal(e.compressedSize, 10n);
    assert.equal(dataOf(zip, e), "0123456789");
  });

  it("reads torch's own archives (64-byte aligned) and Python's forced-ZIP64 rewrite of one", async () => {
    const torchZip = await readFile(fixture("torch", "dtypes.pt"));
    const entries = await entriesOf(torchZip, "dtypes.pt");
    assert.ok(entries.has("dtypes/data.pkl"));
    for (const [name, e] of entries) {
      assert.equal(e.method, 0, name);
      assert.equal(e.dataOffset % 64, 0, `${name} is 64-byte aligned`);
    }
    const z64 = await readFile(fixture("torch", "zip64.pt"));
    const e64 = await entriesOf(z64, "zip64.pt");
    const a = e64.get("zip64_source/data/0") as ZipEntry;
    assert.equal(a.uncompressedSize, 40n);
    const { offset } = storedRange("zip64.pt", a);
    assert.deepEqual([...new Float32Array(z64.buffer.slice(z64.byteOffset + offset, z64.byteOffset + offset + 40))], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("refuses a file without an end record", async () => {
    await rejects(entriesOf(enc.encode("not a zip at all, just some text that is long enough")), "ZIP_INVALID", /test\.zip: no end of central directory record/);
    await rejects(entriesOf(new Uint8Array(5)), "ZIP_INVALID", /too short/);
  });

  it("refuses an end record that claims more records than its central directory can hold", async () => {
    const zip = buildZip(RECORDS);
    const dv = new DataView(zip.buffer);
    dv.setUint16(zip.length - 22 + 10, 40, true);
    await rejects(entriesOf(zip), "ZIP_INVALID", /claims 40 records, more than its central directory of \d+ bytes can hold/);
  });

  it("refuses a damaged central directory record", async () => {
    const zip = buildZip(RECORDS);
    const cd = new DataView(zip.buffer).getUint32(zip.length - 22 + 16, true);
    zip[cd + 46 + "a/data.pkl".length] = 0; // the second record's signature
    await rejects(entriesOf(zip), "ZIP_INVALID", /central directory record 2 of 3 is missing or damaged/);
  });

  it("refuses a central directory that lies beyond the file", async () => {
    const zip = buildZip(RECORDS);
    new DataView(zip.buffer).setUint32(zip.length - 22 + 16, zip.length + 100, true);
    await rejects(entriesOf(zip), "ZIP_INVALID", /central directory offset \d+ lies beyond the end of the file/);
  });

  it("refuses a record whose local header is missing", async () => {
    const zip = buildZip(RECORDS);
    zip[0] = 0; // break the first local header's signature
    await rejects(entriesOf(zip), "ZIP_INVALID", /no local file header for "a\/data\.pkl" at offset 0/);
  });

  it("refuses a record whose data runs into the central directory", async () => {
    const zip = buildZip([{ name: "x", data: enc.encode("abc") }]);
    const cd = new DataView(zip.buffer).getUint32(zip.length - 22 + 16, true);
    new DataView(zip.buffer).setUint32(cd + 20, 1000, true); // compressed size in the central record
    await rejects(entriesOf(zip), "ZIP_INVALID", /the data of "x" \(1000 bytes at \d+\) runs past the central directory/);
  });

  it("refuses two records with the same name", async () => {
    const zip = buildZip([RECORDS[0], RECORDS[0]].map((r) => r as (typeof RECORDS)[0]));
    await rejects(entriesOf(zip), "ZIP_INVALID", /two records named "a\/data\.pkl"/);
  });

  it("refuses an encrypted record", async () => {
    await rejects(entriesOf(buildZip([{ name: "secret", data: enc.encode("x"), flags: 1 }])), "ZIP_INVALID", /"secret" is encrypted/);
  });

  it("refuses a ZIP64 placeholder without a ZIP64 locator", async () => {
    const zip = buildZip(RECORDS);
    new DataView(zip.buffer).setUint32(zip.length - 22 + 16, 0xffffffff, true);
    await rejects(entriesOf(zip), "ZIP_INVALID", /says ZIP64 but no ZIP64 locator/);
  });

  it("refuses a ZIP64 locator that points at no ZIP64 end record", async () => {
    const zip = buildZip(RECORDS, { zip64: true });
    const loc = zip.length - 22 - 20;
    new DataView(zip.buffer).setBigUint64(loc + 8, 3n, true);
    await rejects(entriesOf(zip), "ZIP_INVALID", /no ZIP64 end record at offset 3/);
  });

  it("refuses a ZIP64 extra field too short for its placeholders", async () => {
    const zip = buildZip(RECORDS, { zip64: true });
    const dv = new DataView(zip.buffer);
    const cd = Number(dv.getBigUint64(zip.length - 22 - 20 - 56 + 48, true));
    dv.setUint16(cd + 46 + "a/data.pkl".length + 2, 8, true); // the extra holds 24 bytes; claim 8
    await rejects(entriesOf(zip), "ZIP_INVALID", /ZIP64 extra field of "a\/data\.pkl" is too short/);
  });

  it("refuses an archive split over several disks", async () => {
    const zip = buildZip(RECORDS);
    new DataView(zip.buffer).setUint16(zip.length - 22 + 4, 1, true);
    await rejects(entriesOf(zip), "ZIP_INVALID", /split over several disks/);
  });

  it("refuses to read a compressed record in place, saying what to do", async () => {
    const zip = buildZip([{ name: "a/data.pkl", data: enc.encode("xx"), method: 8 }]);
    const e = (await entriesOf(zip)).get("a/data.pkl") as ZipEntry;
    assert.throws(() => storedRange("ckpt.pt", e), (err: unknown) => {
      assert.ok(err instanceof TruecastError);
      assert.equal(err.code, "ZIP_INVALID");
      assert.match(err.message, /^ckpt\.pt: record "a\/data\.pkl" is compressed \(method 8\).*torch\.save/);
      return true;
    });
  });
});
