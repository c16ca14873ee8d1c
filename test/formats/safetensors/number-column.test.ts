import { test } from "node:test";
import assert from "node:assert/strict";
import type { NameTable } from "../../../src/formats/safetensors/name-table.js";
import { TensorTable } from "../../../src/formats/safetensors/tensor-table.js";

test("a table keeps offsets and dimensions exactly once they pass 32 bits", () => {
  const table = new TensorTable<NameTable>(undefined, 1);
  table.push("a", { dtype: "U8", shape: [2, 3], begin: 0, end: 6 });
  table.push("b", { dtype: "F32", shape: [2 ** 32, 1], begin: 6, end: 6 + 2 ** 34 });
  table.push("c", { dtype: "U8", shape: [7], begin: 6 + 2 ** 34, end: 2 ** 53 - 1 });
  table.push("d", { dtype: "U8", shape: [0], begin: 2 ** 53 - 1, end: 2 ** 53 - 1 });
  assert.deepEqual(
    [0, 1, 2, 3].map((i) => [table.name(i), table.dtype(i), table.shape(i), table.begin(i), table.end(i)]),
    [
      ["a", "U8", [2, 3], 0, 6],
      ["b", "F32", [2 ** 32, 1], 6, 6 + 2 ** 34],
      ["c", "U8", [7], 6 + 2 ** 34, 2 ** 53 - 1],
      ["d", "U8", [0], 2 ** 53 - 1, 2 ** 53 - 1],
    ],
  );
  assert.equal(table.shapeText(1, ","), "4294967296,1");
});

test("a value past 2^53 - 1 reads back exactly from the table's raw rows", () => {
  const table = new TensorTable();
  table.push("a", { dtype: "U8", shape: [1], begin: 0, end: 1 });
  table.push("big", { dtype: "U8", shape: [1], begin: 1, end: 2n ** 64n });
  assert.equal(table.isBig(1), true);
  assert.equal(table.raw(1).end, 2n ** 64n);
  assert.deepEqual([table.begin(0), table.end(0)], [0, 1]);
});
