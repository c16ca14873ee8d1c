import { test } from "node:test";
import assert from "node:assert/strict";
import { setTopLevelMembers, topLevelMembers } from "../../src/formats/json-edit.js";

const DTYPE = (json: string) => [
  { key: "torch_dtype", json, siblings: ["dtype"] },
  { key: "dtype", json, siblings: ["torch_dtype"] },
];

test("members are located with exact spans, nested values and tricky strings skipped whole", () => {
  const text = ' { "a" : [1, {"}": "]"}] ,"b\\"q":"x\\\\" , "c":-1.5e-05}\n';
  const obj = topLevelMembers(text);
  assert.ok(obj);
  assert.deepEqual(obj.members.map((m) => [m.key, text.slice(m.keyStart, m.keyEnd), text.slice(m.valueStart, m.valueEnd)]), [
    ["a", '"a"', '[1, {"}": "]"}]'],
    ['b"q', '"b\\"q"', '"x\\\\"'],
    ["c", '"c"', "-1.5e-05"],
  ]);
  assert.equal(text[obj.open], "{");
  assert.equal(text[obj.close], "}");
  assert.equal(topLevelMembers("[1]"), null);
});

test("only the dtype values change: numbers, escapes, CRLF and a missing final newline stay", () => {
  const text = '{\r\n\t"factor": 2.0,\r\n\t"name": "caf\\u00e9",\r\n\t"torch_dtype": "float32",\r\n\t"eps": 1e-05\r\n}';
  assert.equal(
    setTopLevelMembers(text, DTYPE('"bfloat16"')),
    '{\r\n\t"factor": 2.0,\r\n\t"name": "caf\\u00e9",\r\n\t"torch_dtype": "bfloat16",\r\n\t"dtype": "bfloat16",\r\n\t"eps": 1e-05\r\n}',
  );
});

test("a one-line file stays one line; a missing key goes beside its sibling, or last without one", () => {
  assert.equal(
    setTopLevelMembers('{"theta":10000.0,"dtype":"float16","a":1}', DTYPE('"float32"')),
    '{"theta":10000.0,"dtype":"float32","torch_dtype":"float32","a":1}',
  );
  assert.equal(
    setTopLevelMembers('{"vocab_size": 3, "model_type": "gpt2"}', DTYPE('"float32"')),
    '{"vocab_size": 3, "model_type": "gpt2", "torch_dtype": "float32", "dtype": "float32"}',
  );
  assert.equal(setTopLevelMembers('{"x": 1.0}', DTYPE('"float16"')), '{"x": 1.0, "torch_dtype": "float16", "dtype": "float16"}');
});

test("a sorted object stays sorted: the missing key goes in key order, with the file's own separators", () => {
  const text = '{\n  "a": 1,\n  "rope_theta": 500000.0,\n  "torch_dtype": "float32",\n  "vocab_size": 8\n}\n';
  assert.equal(
    setTopLevelMembers(text, DTYPE('"bfloat16"')),
    '{\n  "a": 1,\n  "dtype": "bfloat16",\n  "rope_theta": 500000.0,\n  "torch_dtype": "bfloat16",\n  "vocab_size": 8\n}\n',
  );
  assert.equal(
    setTopLevelMembers('{\n    "b": 1,\n    "c": 2\n}', DTYPE('"float16"')),
    '{\n    "b": 1,\n    "c": 2,\n    "dtype": "float16",\n    "torch_dtype": "float16"\n}',
  );
  assert.equal(setTopLevelMembers('{"e": 1, "f": 2}', DTYPE('"float16"')), '{"dtype": "float16", "e": 1, "f": 2, "torch_dtype": "float16"}');
});

test("an empty object gets both keys, on one line or on lines of their own as it was written", () => {
  assert.equal(setTopLevelMembers("{}", DTYPE('"float16"')), '{"torch_dtype": "float16", "dtype": "float16"}');
  assert.equal(setTopLevelMembers(" { }\n", DTYPE('"float16"')), ' {"torch_dtype": "float16", "dtype": "float16" }\n');
  assert.equal(setTopLevelMembers("{\r\n}\r\n", DTYPE('"float16"')), '{\r\n  "torch_dtype": "float16",\r\n  "dtype": "float16"\r\n}\r\n');
});

test("both keys already right: the very same text comes back", () => {
  const text = '{"torch_dtype": "bfloat16",  "dtype": "bfloat16", "f": 2.0}';
  assert.equal(setTopLevelMembers(text, DTYPE('"bfloat16"')), text);
});

test("a duplicated key has every occurrence set, so first-wins and last-wins readers agree", () => {
  const out = setTopLevelMembers('{"torch_dtype": "float32", "x": 1, "torch_dtype": "float16", "dtype": "float16"}', DTYPE('"bfloat16"'));
  assert.equal(out, '{"torch_dtype": "bfloat16", "x": 1, "torch_dtype": "bfloat16", "dtype": "bfloat16"}');
});

test("nested keys of the same name are not top-level members and are left alone", () => {
  const text = '{"text_config": {"torch_dtype": "float32"}, "torch_dtype": "float32"}';
  assert.equal(
    setTopLevelMembers(text, DTYPE('"float16"')),
    '{"dtype": "float16", "text_config": {"torch_dtype": "float32"}, "torch_dtype": "float16"}',
  );
  assert.throws(() => setTopLevelMembers("[]", DTYPE('"float16"')), /not an object/);
});
