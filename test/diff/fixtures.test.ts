/**
 * `truecast diff` on models made by real PyTorch, transformers and PEFT (scripts/fixtures/diff_models.py): each
 * verdict, its counts and the exit code, checked against what torch itself said about each pair (expected.json).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fixture } from "../helpers.js";
import { cli } from "../support/cli.js";

interface Expected {
  bf16_vs_f16_broken: { overflow: Record<string, number>; overflow_total: number; tensors: number };
  f32_vs_bf16_from_f32: { changed: number; tensors: number };
  f32_vs_lora_merged: { changed_tensors: string[]; tensors: number };
}

interface JsonTensor {
  name: string;
  dtypeA: string;
  dtypeB: string;
  bitIdentical: boolean;
  values: null | { changed: number; toInfinity: number; maxUlp: number | string; cast: null | { from: string; notNearestEven: number } };
}

interface JsonReport {
  schemaVersion: number;
  verdict: { code: string; severity: string; text: string; identical: boolean };
  counts: Record<string, number>;
  tensors: JsonTensor[];
}

const expected = JSON.parse(readFileSync(fixture("diff", "expected.json"), "utf8")) as Expected;

async function diffJson(a: string, b: string): Promise<{ code: number; report: JsonReport }> {
  const r = await cli(["diff", fixture("diff", a), fixture("diff", b), "--json"]);
  assert.equal(r.stderr, "");
  return { code: r.code, report: JSON.parse(r.stdout) as JsonReport };
}

test("a bfloat16 model and its float16 copy made by model.half(): damaged, with torch's overflow count per tensor", async () => {
  const { code, report } = await diffJson("bf16", "f16-broken");
  assert.equal(code, 1);
  assert.equal(report.schemaVersion, 1);
  const e = expected.bf16_vs_f16_broken;
  assert.equal(report.verdict.code, "CAST_DAMAGED");
  assert.equal(report.verdict.severity, "error");
  assert.equal(report.verdict.text, `b is a rounded to float16: ${e.overflow_total} values overflowed to inf (damaged), in 3 of ${e.tensors} tensors`);
  const overflow = Object.fromEntries(report.tensors.filter((t) => (t.values?.toInfinity ?? 0) > 0).map((t) => [t.name, t.values?.toInfinity]));
  assert.deepEqual(overflow, e.overflow);
  for (const t of report.tensors) {
    assert.equal(t.dtypeA, "bfloat16");
    assert.equal(t.dtypeB, "float16");
    // torch's bf16 → f16 is round-to-nearest-even: every value is the cast truecast computes, the overflows included.
    assert.deepEqual(t.values?.cast, { from: "a", notNearestEven: 0 }, t.name);
  }
  const human = await cli(["diff", fixture("diff", "bf16"), fixture("diff", "f16-broken")]);
  assert.equal(human.code, 1);
  assert.match(human.stdout, /\n {2}model\.embed_tokens\.weight {2}bfloat16 → float16\[64, 16\] {2}overflow: 5\/1,024 changed · 5 → inf · /);
  assert.match(human.stdout, /\ndtype changed, every value kept: 16 tensors \(bfloat16 → float16\)\n/);
  assert.ok(human.stdout.endsWith(`verdict: ${report.verdict.text}\n`));
});

test("a bfloat16 model and its float32 copy: every value kept", async () => {
  const { code, report } = await diffJson("bf16", "f32-widened");
  assert.equal(code, 1);
  assert.equal(report.verdict.code, "EXACT_WIDENING");
  assert.equal(report.verdict.text, "b = a widened to float32: every value kept exactly (a clean cast of 21 tensors)");
  assert.ok(report.tensors.every((t) => t.values?.changed === 0 && t.values.cast?.from === "b"));
});

test("a float32 model and its bfloat16 cast by torch: recognised as truecast's round-to-nearest-even, bit for bit", async () => {
  const { code, report } = await diffJson("f32", "bf16-from-f32");
  assert.equal(code, 1);
  const e = expected.f32_vs_bf16_from_f32;
  assert.equal(report.verdict.code, "CLEAN_CAST");
  assert.match(report.verdict.text, /^b = a rounded to bfloat16 \(round-to-nearest-even, max 0\.\d+ ulp\): a clean cast of 21 tensors$/);
  assert.equal(report.tensors.reduce((n, t) => n + (t.values?.changed ?? 0), 0), e.changed);
  for (const t of report.tensors) {
    assert.equal(t.values?.cast?.notNearestEven, 0, t.name);
    assert.ok(typeof t.values.maxUlp === "number" && t.values.maxUlp <= 0.5 && t.values.maxUlp > 0.4, `${t.name}: ${t.values.maxUlp}`);
  }
  // The other way round, the wider original is b.
  const back = await diffJson("bf16-from-f32", "f32");
  assert.equal(back.report.verdict.code, "CLEAN_CAST");
  assert.match(back.report.verdict.text, /^a = b rounded to bfloat16 \(round-to-nearest-even, max 0\.\d+ ulp\): b is the wider original/);
});

test("a model and the same with a PEFT LoRA merge: the changed tensors are exactly those torch changed", async () => {
  const { code, report } = await diffJson("f32", "f32-lora-merged");
  assert.equal(code, 1);
  const e = expected.f32_vs_lora_merged;
  assert.equal(report.verdict.code, "LORA_MERGE");
  assert.equal(report.verdict.text, `b = a with a LoRA merge on ${e.changed_tensors.length} tensors (q, k, v, o, mlp projections changed; every other tensor bit-identical)`);
  assert.deepEqual(report.tensors.filter((t) => !t.bitIdentical).map((t) => t.name).sort(), e.changed_tensors);
  assert.equal(report.counts["bitIdentical"], e.tensors - e.changed_tensors.length);
});

test("a PyTorch .bin and its safetensors export are bit-identical across formats: exit 0", async () => {
  const { code, report } = await diffJson("bf16-bin", "bf16");
  assert.equal(code, 0);
  assert.deepEqual(report.verdict, { code: "IDENTICAL", severity: "ok", text: "b is a bit-exact copy of a", identical: true });
  assert.equal(report.counts["bitIdentical"], 21);
  const human = await cli(["diff", fixture("diff", "bf16-bin"), fixture("diff", "bf16")]);
  assert.equal(human.code, 0);
  assert.match(human.stdout, /\ncompared 21 tensors \([\d.]+ KB read in [\d.]+s\): 21 bit-identical, 0 changed\nverdict: b is a bit-exact copy of a\n$/);
  assert.equal((await cli(["diff", fixture("diff", "bf16"), fixture("diff", "bf16"), "--quiet"])).stdout, "");
});

test("two unrelated models of different dtypes: a conversion that is not a rounding of a", async () => {
  const { code, report } = await diffJson("f32", "bf16");
  assert.equal(code, 1);
  assert.equal(report.verdict.code, "CAST_CHANGED");
  assert.match(report.verdict.text, /^b = a converted to bfloat16, but [\d,]+ values are not the round-to-nearest-even cast of a's \(values changed, max [\d.]+ ulp\) in 21 tensors$/);
});
