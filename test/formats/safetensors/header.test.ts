import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_HEADER_SIZE, parseHeader, readHeaderSize } from "../../../src/formats/safetensors/header.js";
import { fails, parseBytes, stFile } from "./build.js";

const F = "model-00002-of-00003.safetensors";
const t = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });

test("reads a valid header: entries sorted by offset, metadata, zero-size tensors and 0-rank scalars", () => {
  const bytes = stFile({
    header: {
      __metadata__: { format: "pt" },
      b: t("F32", [], [8, 12]),
      a: t("I64", [1], [0, 8]),
      empty: t("BF16", [0, 3], [12, 12]),
      z: t("U8", [2], [12, 14]),
    },
    data: 14,
  });
  const h = parseBytes(bytes, F);
  const n = bytes.length - 8 - 14;
  assert.equal(h.headerSize, n);
  assert.equal(h.dataStart, 8 + n);
  assert.deepEqual(h.metadata, { format: "pt" });
  assert.deepEqual(h.entries, [
    { name: "a", dtype: "I64", shape: [1], begin: 0, end: 8 },
    { name: "b", dtype: "F32", shape: [], begin: 8, end: 12 },
    { name: "empty", dtype: "BF16", shape: [0, 3], begin: 12, end: 12 },
    { name: "z", dtype: "U8", shape: [2], begin: 12, end: 14 },
  ]);
});

test("an empty header with no tensors is a valid 8 + N byte file", () => {
  const h = parseBytes(stFile({ header: "{}      " }));
  assert.deepEqual({ headerSize: h.headerSize, dataStart: h.dataStart, entries: h.entries, metadata: h.metadata }, { headerSize: 8, dataStart: 16, entries: [], metadata: null });
  assert.equal(h.tensors.count, 0);
});

test("zero-size tensors may share an offset with each other and with the next tensor, as the reference allows", () => {
  const h = parseBytes(
    stFile({ header: { e1: t("F32", [0], [0, 0]), x: t("F32", [1], [0, 4]), e2: t("I8", [5, 0], [0, 0]) }, data: 4 }),
  );
  assert.deepEqual(h.entries.map((e) => e.name), ["e1", "e2", "x"]);
});

test('"__metadata__": null means no metadata; a "__proto__" metadata key stays an ordinary key', () => {
  assert.equal(parseBytes(stFile({ header: '{"__metadata__":null}' })).metadata, null);
  const m = parseBytes(stFile({ header: '{"__metadata__":{"__proto__":"x"}}' })).metadata;
  assert.deepEqual(Object.entries(m ?? {}), [["__proto__", "x"]]);
});

test("sub-byte F4 tensors that fill whole bytes are legal", () => {
  const h = parseBytes(stFile({ header: { q: t("F4", [2, 3], [0, 3]) }, data: 3 }));
  assert.deepEqual(h.entries[0], { name: "q", dtype: "F4", shape: [2, 3], begin: 0, end: 3 });
});

test("ST_TRUNCATED: a file shorter than the 8-byte length prefix", () => {
  assert.throws(() => parseBytes(new Uint8Array(5), F), fails("ST_TRUNCATED", F, "5 bytes", "truncated", "re-download"));
});

test("ST_HEADER_TOO_LARGE: N over the reference reader's 100,000,000-byte limit", () => {
  const bytes = stFile({ header: "{}", n: BigInt(MAX_HEADER_SIZE + 1) });
  assert.throws(() => parseBytes(bytes, F), fails("ST_HEADER_TOO_LARGE", F, "100000001", "not a safetensors file"));
  const huge = stFile({ header: "{}", n: (1n << 64n) - 1n });
  assert.throws(() => parseBytes(huge, F), fails("ST_HEADER_TOO_LARGE", "18446744073709551615"));
});

test("ST_TRUNCATED: N runs past the end of the file", () => {
  const bytes = stFile({ header: "{}", n: 100n });
  assert.throws(() => readHeaderSize({ prefix: bytes, fileSize: bytes.length, file: F }), fails("ST_TRUNCATED", F, "100 bytes", "truncated"));
});

test("ST_TRUNCATED: fewer header bytes than N were read", () => {
  const bytes = stFile({ header: "{}      " });
  assert.throws(
    () => parseHeader({ prefix: bytes.subarray(0, 8), headerBytes: bytes.subarray(8, 12), fileSize: bytes.length, file: F }),
    fails("ST_TRUNCATED", "read 4 header bytes of 8"),
  );
});

test("ST_HEADER_UTF8: header bytes that are not UTF-8", () => {
  const bytes = stFile({ header: "", headerBytes: new Uint8Array([0x7b, 0xff, 0x7d]) });
  assert.throws(() => parseBytes(bytes, F), fails("ST_HEADER_UTF8", F, "UTF-8"));
});

test("ST_HEADER_JSON: malformed JSON, a non-object, a leading BOM, NUL padding", () => {
  for (const header of ['{"a":', "[]", "\ufeff{}", "{}\0\0\0\0\0\0", "{} x"]) {
    assert.throws(() => parseBytes(stFile({ header }), F), fails("ST_HEADER_JSON", F), JSON.stringify(header));
  }
});

test("ST_DUPLICATE_KEY: a tensor named twice (JSON.parse would keep the last silently)", () => {
  const header = '{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}';
  assert.throws(() => parseBytes(stFile({ header, data: 1 }), F), fails("ST_DUPLICATE_KEY", F, '"w" twice', "top level"));
});

test("ST_DUPLICATE_KEY: a __metadata__ key named twice, and __metadata__ itself twice", () => {
  assert.throws(
    () => parseBytes(stFile({ header: '{"__metadata__":{"format":"pt","format":"tf"}}' }), F),
    fails("ST_DUPLICATE_KEY", '"format" twice', 'inside "__metadata__"'),
  );
  assert.throws(
    () => parseBytes(stFile({ header: '{"__metadata__":{},"__metadata__":{}}' }), F),
    fails("ST_DUPLICATE_KEY", '"__metadata__" twice'),
  );
});

test("ST_BAD_ENTRY: an entry that is not an object, or lacks or mistypes dtype, shape or data_offsets", () => {
  const cases: Array<[unknown, string]> = [
    [[1, 2], "is not an object"],
    [{ shape: [1], data_offsets: [0, 1] }, 'has no "dtype"'],
    [{ dtype: 1, shape: [1], data_offsets: [0, 1] }, '"dtype" that is not a string'],
    [{ dtype: "U8", data_offsets: [0, 1] }, 'has no "shape"'],
    [{ dtype: "U8", shape: 1, data_offsets: [0, 1] }, '"shape" that is not a list'],
    [{ dtype: "U8", shape: [1] }, 'has no "data_offsets"'],
    [{ dtype: "U8", shape: [1], data_offsets: [0] }, "not [begin, end]"],
    [{ dtype: "U8", shape: [1], data_offsets: "0,1" }, "not [begin, end]"],
  ];
  for (const [entry, part] of cases) {
    assert.throws(() => parseBytes(stFile({ header: { "lm_head.weight": entry }, data: 1 }), F), fails("ST_BAD_ENTRY", F, '"lm_head.weight"', part));
  }
});

test("ST_BAD_ENTRY: negative, fractional, exponent and over-u64 numbers", () => {
  const cases = [
    '{"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}',
    '{"w":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}',
    '{"w":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}}',
    '{"w":{"dtype":"U8","shape":[1e0],"data_offsets":[0,1]}}',
    '{"w":{"dtype":"U8","shape":[1],"data_offsets":[-0,1]}}',
    '{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551616]}}',
  ];
  for (const header of cases) {
    assert.throws(() => parseBytes(stFile({ header, data: 1 }), F), fails("ST_BAD_ENTRY", '"w"', "from 0 to 2^64-1"), header);
  }
  assert.throws(() => parseBytes(stFile({ header: { w: t("U8", ["1"], [0, 1]) }, data: 1 })), fails("ST_BAD_ENTRY", "shape dimension"));
});

test("ST_BAD_ENTRY: data_offsets whose begin is after their end", () => {
  assert.throws(() => parseBytes(stFile({ header: { w: t("U8", [0], [4, 2]) }, data: 4 }), F), fails("ST_BAD_ENTRY", '"w"', "[4, 2]", "end before they begin"));
});

test("ST_UNKNOWN_DTYPE: a dtype safetensors does not define (names are case-sensitive)", () => {
  for (const dtype of ["F128", "f32", "float32"]) {
    assert.throws(() => parseBytes(stFile({ header: { w: t(dtype, [1], [0, 4]) }, data: 4 }), F), fails("ST_UNKNOWN_DTYPE", F, '"w"', `"${dtype}"`, "BF16"));
  }
});

test("ST_METADATA: a non-string metadata value, or metadata that is not an object", () => {
  assert.throws(() => parseBytes(stFile({ header: { __metadata__: { format: "pt", step: 10 } } }), F), fails("ST_METADATA", F, '"step"', "must be strings"));
  assert.throws(() => parseBytes(stFile({ header: { __metadata__: ["pt"] } }), F), fails("ST_METADATA", "found an array"));
});

test("ST_SHAPE_OVERFLOW: a shape whose size overflows 64 bits (checked with exact integers)", () => {
  const header = '{"test":{"dtype":"I32","shape":[2,18446744073709551614],"data_offsets":[0,16]}}';
  assert.throws(() => parseBytes(stFile({ header, data: 16 }), F), fails("ST_SHAPE_OVERFLOW", F, '"test"', "18446744073709551614", "overflows"));
  const bits = '{"test":{"dtype":"I32","shape":[2,9223372036854775807],"data_offsets":[0,16]}}';
  assert.throws(() => parseBytes(stFile({ header: bits, data: 16 }), F), fails("ST_SHAPE_OVERFLOW", '"test"'));
});

test("ST_SHAPE_OVERFLOW: a zero-size tensor with a dimension truecast cannot hold as a number", () => {
  const header = '{"e":{"dtype":"U8","shape":[0,1152921504606846976],"data_offsets":[0,0]}}';
  assert.throws(() => parseBytes(stFile({ header }), F), fails("ST_SHAPE_OVERFLOW", '"e"', "1152921504606846976", "2^53"));
});

test("ST_BYTE_LENGTH: a byte range that does not match numel × element size", () => {
  const bytes = stFile({ header: { "lm_head.weight": t("BF16", [32, 64], [0, 2048]) }, data: 2048 });
  assert.throws(
    () => parseBytes(bytes, F),
    fails("ST_BYTE_LENGTH", `${F}: tensor "lm_head.weight" has 2048 bytes`, "shape [32, 64] of BF16 needs 4096"),
  );
});

test("ST_BYTE_LENGTH: a sub-byte tensor whose elements do not fill whole bytes", () => {
  assert.throws(() => parseBytes(stFile({ header: { q: t("F4", [3], [0, 2]) }, data: 2 }), F), fails("ST_BYTE_LENGTH", '"q"', "whole number of bytes"));
});

test("ST_NOT_CONTIGUOUS: the first tensor does not start at 0", () => {
  assert.throws(() => parseBytes(stFile({ header: { w: t("U8", [2], [2, 4]) }, data: 4 }), F), fails("ST_NOT_CONTIGUOUS", F, '"w"', "not at 0"));
});

test("ST_NOT_CONTIGUOUS: a hole between two tensors", () => {
  const bytes = stFile({ header: { a: t("U8", [2], [0, 2]), b: t("U8", [2], [3, 5]) }, data: 5 });
  assert.throws(() => parseBytes(bytes, F), fails("ST_NOT_CONTIGUOUS", "hole of 1 bytes", '"a"', '"b"'));
});

test("ST_NOT_CONTIGUOUS: overlapping tensors", () => {
  const bytes = stFile({ header: { a: t("U8", [4], [0, 4]), b: t("U8", [4], [2, 6]) }, data: 6 });
  assert.throws(() => parseBytes(bytes, F), fails("ST_NOT_CONTIGUOUS", '"b"', "overlaps", '"a"'));
});

test("ST_NOT_CONTIGUOUS: two names that share the same bytes", () => {
  const bytes = stFile({ header: { "embed.weight": t("F32", [2], [0, 8]), "lm_head.weight": t("F32", [2], [0, 8]) }, data: 8 });
  assert.throws(() => parseBytes(bytes, F), fails("ST_NOT_CONTIGUOUS", '"lm_head.weight"', '"embed.weight"', "shared bytes"));
});

test("ST_TRUNCATED: the data buffer is shorter than the header describes", () => {
  const bytes = stFile({ header: { w: t("I32", [2, 2], [0, 16]) }, data: 14 });
  assert.throws(() => parseBytes(bytes, F), fails("ST_TRUNCATED", F, "2 missing", "truncated", "re-download or re-copy"));
});

test("ST_FILE_SIZE: bytes after the last tensor (a polyglot file) are refused", () => {
  const data = new Uint8Array(16 + 5).fill(0x41);
  assert.throws(() => parseBytes(stFile({ header: { w: t("I32", [2, 2], [0, 16]) }, data }), F), fails("ST_FILE_SIZE", F, "5 bytes follow the last tensor"));
});

test("rules apply in the reference order: JSON rules before layout rules before the file size", () => {
  const both = stFile({ header: { a: t("U8", [1], [5, 6]), b: t("F99", [1], [0, 1]) }, data: 100 });
  assert.throws(() => parseBytes(both), fails("ST_UNKNOWN_DTYPE"));
  const layout = stFile({ header: { a: t("U8", [1], [0, 1]), b: t("U8", [9], [1, 2]) }, data: 100 });
  assert.throws(() => parseBytes(layout), fails("ST_BYTE_LENGTH", '"b"'));
  const order = stFile({ header: { b: t("U8", [9], [3, 4]), a: t("U8", [1], [1, 2]) }, data: 4 });
  assert.throws(() => parseBytes(order), fails("ST_NOT_CONTIGUOUS", '"a"'), "by offset, a's hole comes before b's length");
});
