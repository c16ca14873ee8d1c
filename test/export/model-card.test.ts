import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "yaml";
import { BIT_EXACT, cardParamsFromExport, describeDtypes, pipelineTagFor, renderModelCard, type ModelCardParams } from "../../src/export/model-card.js";

const BASE: ModelCardParams = {
  baseModel: "truecast-test/tiny-llama",
  architectures: ["LlamaForCausalLM"],
  repoId: "acme/tiny-chat",
  storedDtype: "BF16",
  sourceDtype: "BF16",
  conversions: [],
  truecastVersion: "0.1.0",
  sourceKind: "H2O LLM Studio experiment",
};

function split(card: string): { front: string; body: string } {
  const m = card.match(/^---\n([\s\S]*?)---\n([\s\S]*)$/);
  assert.ok(m, "the card starts with YAML front matter");
  return { front: m[1] ?? "", body: m[2] ?? "" };
}

test("bit-exact export: exact front matter and Precision section", () => {
  const card = renderModelCard(BASE);
  const { front, body } = split(card);
  assert.equal(
    front,
    [
      "base_model: truecast-test/tiny-llama",
      "library_name: transformers",
      "pipeline_tag: text-generation",
      "tags:",
      "  - truecast",
      "",
    ].join("\n"),
  );
  const precision = body.slice(body.indexOf("## Precision"));
  assert.equal(
    precision,
    [
      "## Precision",
      "",
      "- Stored dtype: bfloat16",
      "- Source dtype: bfloat16 (H2O LLM Studio experiment)",
      `- Conversion: ${BIT_EXACT}.`,
      "- Exported by: truecast 0.1.0",
      "",
    ].join("\n"),
  );
  assert.match(body, /^\n# tiny-chat\n/);
  assert.match(body, /model = AutoModelForCausalLM\.from_pretrained\(model_id, torch_dtype=torch\.bfloat16\)/);
  assert.match(body, /model_id = "acme\/tiny-chat"/);
});

test("license only when given; user tags first, truecast once", () => {
  const without = parse(split(renderModelCard(BASE)).front) as Record<string, unknown>;
  assert.equal("license" in without, false);
  const meta = parse(split(renderModelCard({ ...BASE, license: "apache-2.0", tags: ["h2o-llmstudio", "truecast"] })).front) as Record<string, unknown>;
  assert.equal(meta["license"], "apache-2.0");
  assert.deepEqual(meta["tags"], ["h2o-llmstudio", "truecast"]);
  assert.deepEqual(Object.keys(meta), ["base_model", "library_name", "license", "pipeline_tag", "tags"]);
});

test("pipeline tag from architectures; explicit tag wins; unknown architecture leaves it out", () => {
  assert.equal(pipelineTagFor(["LlamaForCausalLM"]), "text-generation");
  assert.equal(pipelineTagFor(["MistralForSequenceClassification"]), "text-classification");
  assert.equal(pipelineTagFor(["T5Model"]), undefined);
  assert.equal(pipelineTagFor(undefined), undefined);
  const cls = renderModelCard({ ...BASE, architectures: ["LlamaForSequenceClassification"] });
  assert.match(split(cls).front, /^pipeline_tag: text-classification$/m);
  assert.match(cls, /AutoModelForSequenceClassification\.from_pretrained/);
  const explicit = renderModelCard({ ...BASE, pipelineTag: "text2text-generation" });
  assert.match(split(explicit).front, /^pipeline_tag: text2text-generation$/m);
  const none = renderModelCard({ ...BASE, architectures: ["T5Model"] });
  assert.doesNotMatch(split(none).front, /pipeline_tag/);
  assert.match(none, /from transformers import AutoModel, AutoTokenizer/);
});

test("YAML values that PyYAML would misread, or that hold YAML syntax, come back as the same strings", () => {
  const tricky = ["yes", "on", "1e3", "key: value", "# not a comment", "- dash", "quote \" and 'single'"];
  const card = renderModelCard({ ...BASE, baseModel: "no", license: "other: see LICENSE", tags: tricky });
  const meta = parse(split(card).front, { version: "1.1" }) as Record<string, unknown>;
  assert.equal(meta["base_model"], "no");
  assert.equal(meta["license"], "other: see LICENSE");
  assert.deepEqual(meta["tags"], [...tricky, "truecast"]);
});

test("conversions are listed with their counts; a merged adapter is named", () => {
  const card = renderModelCard({
    ...BASE,
    storedDtype: "F16",
    sourceDtype: "bfloat16",
    mergedAdapter: "acme/tiny-lora",
    conversions: [{ tensors: 11, from: "BF16", to: "F16", changed: 3, toInfinity: 0, toZero: 2, maxAbsError: 0.0009765625 }],
  });
  const precision = card.slice(card.indexOf("## Precision"));
  assert.equal(
    precision,
    [
      "## Precision",
      "",
      "- Stored dtype: float16",
      "- Source dtype: bfloat16 (H2O LLM Studio experiment)",
      "- Merged LoRA adapter: acme/tiny-lora",
      "- Conversion (requested by the user; every other weight is a bit-exact copy, except the weights the adapter was merged into):",
      "",
      "| tensors | from | to | values changed | became ±inf | became 0 | max abs error |",
      "| ---: | --- | --- | ---: | ---: | ---: | ---: |",
      "| 11 | bfloat16 | float16 | 3 | 0 | 2 | 0.0009765625 |",
      "- Exported by: truecast 0.1.0",
      "",
    ].join("\n"),
  );
  assert.doesNotMatch(card, new RegExp(BIT_EXACT));
  assert.match(card, /torch_dtype=torch\.float16/);
});

test("the card is deterministic and has no base_model when none is known", () => {
  const p = { ...BASE, baseModel: undefined, repoId: undefined } as ModelCardParams;
  assert.equal(renderModelCard(p), renderModelCard(p));
  const { front, body } = split(renderModelCard(p));
  assert.doesNotMatch(front, /base_model/);
  assert.match(body, /^\n# Exported model\n\nA fine-tuned model, exported with truecast 0\.1\.0/);
  assert.match(body, /model_id = "path\/to\/this\/folder"/);
});

test("card parameters from an export report: dtypes by bytes, mixed ones joined, snippet loads in the widest (auto would round the float32 weights)", () => {
  const p = cardParamsFromExport(
    {
      source: { kind: "PyTorch checkpoint" },
      bytesByDtype: { F32: 100, BF16: 4000 },
      sourceBytesByDtype: { BF16: 4100 },
      conversions: [],
    },
    { truecastVersion: "0.1.0", baseModel: "org/base" },
  );
  assert.equal(p.storedDtype, "bfloat16 + float32");
  assert.equal(p.sourceDtype, "bfloat16");
  assert.equal(p.sourceKind, "PyTorch checkpoint");
  const card = renderModelCard(p);
  assert.match(card, /^- Stored dtype: bfloat16 \+ float32$/m);
  assert.match(card, /torch_dtype=torch\.float32\)/);
  assert.doesNotMatch(card, /"auto"/);
  const halves = renderModelCard({ ...p, storedDtype: describeDtypes({ F16: 2, BF16: 2 }) });
  assert.match(halves, /torch_dtype=torch\.float32\)/, "bfloat16 + float16 load exactly only in float32");
  assert.match(renderModelCard({ ...p, storedDtype: "bfloat16 + int64" }), /torch_dtype=torch\.bfloat16\)/);
  assert.match(renderModelCard({ ...p, storedDtype: "int64" }), /torch_dtype="auto"/);
  assert.equal(describeDtypes({}), "none");
  assert.equal(describeDtypes({ F16: 2, BF16: 2 }), "bfloat16 + float16");
});

test("a merge qualifies the bit-exact claim, with the count when known", () => {
  const card = renderModelCard({ ...BASE, mergedAdapter: "acme/tiny-lora", mergedTensors: 2 });
  assert.match(card, /^- Merged LoRA adapter: acme\/tiny-lora\n- Conversion: bit-exact copy of the checkpoint's weights, except the 2 weights the adapter was merged into\.$/m);
  const unknown = renderModelCard({ ...BASE, mergedAdapter: "acme/tiny-lora" });
  assert.match(unknown, /^- Conversion: bit-exact copy of the checkpoint's weights, except the weights the adapter was merged into\.$/m);
});
