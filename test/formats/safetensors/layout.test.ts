import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { DTYPES, byteLengthOf, type DType } from "../../../src/dtype/table.js";
import {
  layoutTensors,
  serializeHeader,
  type SafetensorsEntry,
} from "../../../src/formats/safetensors/header.js";
import { compareCodePoints } from "../../../src/formats/safetensors/layout.js";
import { fixture } from "../../helpers.js";
import { fails, parseBytes } from "./build.js";

function withData(header: Uint8Array, entries: readonly SafetensorsEntry[]): Uint8Array {
  const dataLength = entries.reduce((m, e) => Math.max(m, e.end), 0);
  const out = new Uint8Array(header.length + dataLength);
  out.set(header);
  return out;
}

const tensor = (name: string, dtype: DType, shape: number[]) => ({
  name,
  dtype,
  shape,
  byteLength: Number(byteLengthOf(dtype, shape.reduce((a, d) => a * BigInt(d), 1n))),
});

test("the header of a file written by the safetensors library is reproduced byte for byte", async () => {
  const file = new Uint8Array(await readFile(fixture("safetensors", "reference.safetensors")));
  const parsed = parseBytes(file, "reference.safetensors");
  // Lay out the same tensors from a scrambled order.
  const input = [...parsed.entries]
    .reverse()
    .map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape, byteLength: e.end - e.begin }));
  const laid = layoutTensors(input);
  assert.deepEqual(laid, parsed.entries);
  const header = serializeHeader(laid, { format: "pt" });
  assert.deepEqual(header, file.subarray(0, parsed.dataStart));
});

test("an empty header is {} padded with six spaces, N = 8", () => {
  assert.deepEqual([...serializeHeader([], null)], [8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d, 32, 32, 32, 32, 32, 32]);
});

test("compact JSON with __metadata__ first and tensors in the order given", () => {
  const entries: SafetensorsEntry[] = [
    { name: "b", dtype: "F32", shape: [1, 2, 3], begin: 0, end: 24 },
    { name: "a", dtype: "U8", shape: [], begin: 24, end: 25 },
  ];
  const bytes = serializeHeader(entries, { format: "pt", note: 'quote " and \n' });
  const text = new TextDecoder().decode(bytes.subarray(8)).trimEnd();
  assert.equal(
    text,
    '{"__metadata__":{"format":"pt","note":"quote \\" and \\n"},' +
      '"b":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]},"a":{"dtype":"U8","shape":[],"data_offsets":[24,25]}}',
  );
});

test("padding: spaces up to a multiple of 8, the first JSON byte is {, for every name length", () => {
  for (let len = 1; len <= 17; len++) {
    const entries = layoutTensors([tensor("x".repeat(len), "F16", [3])]);
    const bytes = serializeHeader(entries, null);
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    assert.equal(n, bytes.length - 8);
    assert.equal(n % 8, 0);
    assert.equal(bytes[8], 0x7b);
    const json = new TextDecoder().decode(bytes.subarray(8));
    const end = json.lastIndexOf("}") + 1;
    assert.ok(n - end < 8);
    assert.match(json.slice(end), /^ *$/);
  }
});

test("layoutTensors orders as the reference writer: dtype enum order from last to first, then name", () => {
  const input = DTYPES.map((d) => tensor(`t.${d}`, d, [4]));
  input.push(tensor("b", "F32", [1]), tensor("a", "F32", [1]));
  const laid = layoutTensors(input);
  // Not by element size alone: U64, I64, F64 and C64 are all 8 bytes, in this order (the enum's, reversed).
  assert.deepEqual(laid.map((e) => e.dtype), [...DTYPES].reverse().flatMap((d) => (d === "F32" ? [d, d, d] : [d])));
  assert.deepEqual(laid.filter((e) => e.dtype === "F32").map((e) => e.name), ["a", "b", "t.F32"]);
  let offset = 0;
  for (const e of laid) {
    assert.equal(e.begin, offset);
    offset = e.end;
  }
});

test("round trip: layoutTensors + serializeHeader → parseHeader gives back the same entries", () => {
  const laid = layoutTensors([
    tensor("model.layers.0.self_attn.q_proj.weight", "BF16", [8, 8]),
    tensor("scalar", "F32", []),
    tensor("empty", "I64", [0, 4]),
    tensor("mask", "BOOL", [3]),
    tensor("q4", "F4", [2, 2]),
    tensor("\u00e9t\u00e9 / \ud83d\ude00", "F64", [2]),
  ]);
  const header = serializeHeader(laid, { format: "pt" });
  const parsed = parseBytes(withData(header, laid));
  assert.deepEqual(parsed.entries, laid);
  assert.deepEqual(parsed.metadata, { format: "pt" });
  assert.equal(parsed.dataStart, header.length);
});

test("compareCodePoints: code point order, not UTF-16 unit order", () => {
  assert.ok(compareCodePoints("\uff21", "\ud835\udc00") < 0); // U+FF21 < U+1D400
  assert.ok("\uff21" > "\ud835\udc00"); // ...which plain string comparison gets wrong
  assert.ok(compareCodePoints("a", "ab") < 0);
  assert.equal(compareCodePoints("same", "same"), 0);
  assert.ok(compareCodePoints("B", "a") < 0);
});

test("the writer refuses what the reader would refuse", () => {
  assert.throws(() => layoutTensors([tensor("w", "F32", [2]), tensor("w", "F16", [2])]), fails("DUPLICATE_TENSOR", '"w"'));
  assert.throws(() => layoutTensors([{ name: "w", dtype: "F32", shape: [2], byteLength: 7 }]), fails("ST_BYTE_LENGTH", '"w"', "needs 8"));
  assert.throws(() => layoutTensors([tensor("q", "F4", [3])]), fails("ST_BYTE_LENGTH", '"q"'));
  assert.throws(() => layoutTensors([{ name: "w", dtype: "F32", shape: [-1], byteLength: 4 }]), fails("ST_BAD_ENTRY", '"w"'));
  const e = (name: string, begin: number, end: number): SafetensorsEntry => ({ name, dtype: "U8", shape: [end - begin], begin, end });
  assert.throws(() => serializeHeader([e("a", 0, 2), e("a", 2, 4)], null), fails("ST_DUPLICATE_KEY", '"a"'));
  assert.throws(() => serializeHeader([e("a", 0, 2), e("b", 3, 4)], null), fails("ST_NOT_CONTIGUOUS", "hole"));
  assert.throws(() => serializeHeader([e("__metadata__", 0, 2)], null), fails("ST_BAD_ENTRY", "__metadata__"));
  assert.throws(() => serializeHeader([e("bad\ud800", 0, 2)], null), fails("ST_BAD_ENTRY", "not valid Unicode"));
  assert.throws(
    () => serializeHeader([{ name: "w", dtype: "F32", shape: [3], begin: 0, end: 8 }], null),
    fails("ST_BYTE_LENGTH", '"w"', "needs 12"),
  );
});
