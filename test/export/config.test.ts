import { test } from "node:test";
import assert from "node:assert/strict";
import { censusDtypes, configClaims, configFlag, rewriteConfigDtype } from "../../src/export/config.js";
import { formatBytes, parseSize } from "../../src/export/units.js";

test("the dominant floating dtype is the one holding most bytes; ints do not count", () => {
  const c = censusDtypes([
    { dtype: "I64", byteLength: 1000 },
    { dtype: "BF16", byteLength: 600 },
    { dtype: "F32", byteLength: 400 },
  ]);
  assert.equal(c.dominant, "BF16");
  assert.equal(c.mixed, true);
  assert.equal(c.bytesByDtype.get("I64"), 1000);
  assert.deepEqual(censusDtypes([{ dtype: "I8", byteLength: 5 }]), { bytesByDtype: new Map([["I8", 5]]), dominant: null, mixed: false });
});

test("rewriting sets both keys, keeps other keys, and keeps a sorted config sorted", () => {
  const text = JSON.stringify({ architectures: ["LlamaForCausalLM"], hidden_size: 64, torch_dtype: "float16", vocab_size: 10 }, null, 2);
  const out = rewriteConfigDtype(text, "BF16");
  assert.ok(out.endsWith("}"), "no final newline added where the file had none");
  const parsed = JSON.parse(out) as Record<string, unknown>;
  assert.equal(parsed["torch_dtype"], "bfloat16");
  assert.equal(parsed["dtype"], "bfloat16");
  assert.equal(parsed["hidden_size"], 64);
  assert.deepEqual(Object.keys(parsed), ["architectures", "dtype", "hidden_size", "torch_dtype", "vocab_size"]);
});

test("an unsorted config keeps its order, new keys at the end", () => {
  const out = rewriteConfigDtype('{"vocab_size": 3, "model_type": "gpt2"}', "F32");
  assert.deepEqual(Object.keys(JSON.parse(out) as object), ["vocab_size", "model_type", "torch_dtype", "dtype"]);
});

test("no floating tensors: config.json is left byte for byte", () => {
  const text = '{"a":1}';
  assert.equal(rewriteConfigDtype(text, null), text);
});

test("claims parse torch and config spellings; unknown values name no dtype", () => {
  const claims = configClaims('{"torch_dtype": "torch.float16", "dtype": "auto"}');
  assert.deepEqual(claims, [
    { key: "torch_dtype", value: "torch.float16", dtype: "F16" },
    { key: "dtype", value: "auto", dtype: null },
  ]);
  assert.equal(configFlag('{"tie_word_embeddings": false}', "tie_word_embeddings", true), false);
  assert.equal(configFlag("{}", "tie_word_embeddings", true), true);
});

test("a config.json that is not JSON is one clear error", () => {
  assert.throws(() => configClaims("{nope", "/m/config.json"), (e: Error & { code?: string }) => {
    assert.equal(e.code, "CONFIG_INVALID");
    assert.match(e.message, /\/m\/config\.json: not valid JSON/);
    return true;
  });
  assert.throws(() => rewriteConfigDtype("[1]", "BF16"), { code: "CONFIG_INVALID" });
});

test("sizes are decimal, as transformers reads max_shard_size", () => {
  assert.equal(parseSize("64KB"), 64_000);
  assert.equal(parseSize("500MB"), 500_000_000);
  assert.equal(parseSize("5GB"), 5_000_000_000);
  assert.equal(parseSize("2GiB"), 2 * 2 ** 30);
  assert.equal(parseSize("1000"), 1000);
  assert.equal(parseSize("1.5GB"), 1_500_000_000);
  for (const bad of ["", "5 parsecs", "-1GB", "0", "GB"]) assert.throws(() => parseSize(bad), { code: "USAGE" });
  assert.equal(formatBytes(16_100_000_000), "16.1 GB");
  assert.equal(formatBytes(999), "999 B");
});
