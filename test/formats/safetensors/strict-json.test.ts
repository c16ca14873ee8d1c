import { test } from "node:test";
import assert from "node:assert/strict";
import { jsonUnsignedInteger, parseStrictJson, type JsonValue } from "../../../src/formats/safetensors/strict-json.js";

function value(text: string): JsonValue {
  const r = parseStrictJson(text);
  assert.ok(r.ok, JSON.stringify(r));
  return r.value;
}

test("parses objects in document order, keeping numbers' exact text", () => {
  assert.deepEqual(value(' {"b": [18446744073709551615, -1.5e3], "a": {"t": true, "f": false, "n": null}} '), {
    kind: "object",
    entries: [
      ["b", { kind: "array", items: [{ kind: "number", raw: "18446744073709551615" }, { kind: "number", raw: "-1.5e3" }] }],
      ["a", { kind: "object", entries: [["t", { kind: "boolean", value: true }], ["f", { kind: "boolean", value: false }], ["n", { kind: "null" }]] }],
    ],
  });
});

test("decodes escapes, including surrogate pairs, the same way JSON.parse does", () => {
  const text = '"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00 raw \u00e9\ud83d\ude00"';
  assert.deepEqual(value(text), { kind: "string", value: JSON.parse(text) as string });
});

test("reports duplicate keys with where they are", () => {
  assert.deepEqual(parseStrictJson('{"a":{"x":1,"x":2}}'), { ok: false, problem: "duplicate", key: "x", path: ["a"] });
  assert.deepEqual(parseStrictJson('{"a":1,"a":1}'), { ok: false, problem: "duplicate", key: "a", path: [] });
  assert.equal(parseStrictJson('{"a":1,"b":{"a":1}}').ok, true);
});

test("refuses what serde_json refuses: lone surrogates, raw control characters, bad numbers, trailing text", () => {
  for (const bad of ['"\\ud800"', '"\\udc00"', '"\\ud800\\u0041"', '"a\nb"', "01", "1.", ".5", "+1", "-", "[1,]", '{"a":1,}', "{} {}", "", "nul", '"\\x"']) {
    const r = parseStrictJson(bad);
    assert.ok(!r.ok && r.problem === "syntax", bad);
  }
});

test("refuses nesting past the depth limit without overflowing the stack", () => {
  assert.equal(parseStrictJson("[".repeat(100000)).ok, false);
  assert.equal(parseStrictJson("[".repeat(100) + "]".repeat(100)).ok, true);
});

test("jsonUnsignedInteger accepts only plain non-negative integers", () => {
  assert.equal(jsonUnsignedInteger({ kind: "number", raw: "18446744073709551617" }), 18446744073709551617n);
  for (const raw of ["-0", "-1", "1.0", "1e2"]) assert.equal(jsonUnsignedInteger({ kind: "number", raw }), null, raw);
  assert.equal(jsonUnsignedInteger({ kind: "string", value: "1" }), null);
});
