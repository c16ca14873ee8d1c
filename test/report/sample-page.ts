/**
 * Made-up report pages: a llama-like model of any number of tensors, as a diff of a bfloat16 model against a
 * float16 copy of it with some blocks overflowed, and the hostile strings the page must show as text. Seeded, so
 * the same arguments give the same page (the browser tests and `scripts/sample-report` use it).
 */
import { uniform } from "../fuzz/mutate.js";
import { groupOf, layerOf, type Finding, type ReportPage, type TensorRow } from "../../src/report/page-data.js";

const BLOCK = [
  "self_attn.q_proj.weight",
  "self_attn.k_proj.weight",
  "self_attn.v_proj.weight",
  "self_attn.o_proj.weight",
  "mlp.gate_proj.weight",
  "mlp.up_proj.weight",
  "mlp.down_proj.weight",
  "input_layernorm.weight",
  "post_attention_layernorm.weight",
];

/** Markup and script that would run if the page ever parsed data as HTML; each sets `window.__pwned`. */
export const HOSTILE_STRINGS = [
  "</script><img src=x onerror=\"window.__pwned=1\">",
  "<script>window.__pwned=2</script>",
  "<!--<script>window.__pwned=3</script>",
  "]]></script><svg onload=window.__pwned=4>",
  "&lt;/script&gt;&amp; \u2028\u2029 <iframe srcdoc=\"<script>parent.__pwned=5</script>\">",
  "<a href=\"javascript:window.__pwned=6\">x</a> <style>body{display:none}</style>",
  "${window.__pwned=7} {{constructor.constructor('window.__pwned=8')()}}",
];

function names(count: number): string[] {
  const out = ["model.embed_tokens.weight"];
  for (let layer = 0; out.length < count - 2; layer++) for (const part of BLOCK) if (out.length < count - 2) out.push(`model.layers.${layer}.${part}`);
  out.push("model.norm.weight", "lm_head.weight");
  return out.slice(0, count);
}

function row(name: string, rnd: () => number, overflowBlocks: ReadonlySet<number>): TensorRow {
  const layer = layerOf(name);
  const group = groupOf(name);
  const numel = group === "norm" ? 4096 : group === "embeddings" || group === "head" ? 32000 * 4096 : 4096 * 4096;
  const shape = group === "norm" ? [4096] : group === "embeddings" || group === "head" ? [32000, 4096] : [4096, 4096];
  if (group === "norm" || (layer !== null && layer % 11 === 5)) {
    return { name, layer, group, dtype: "bfloat16", shape, status: "bit-identical", severity: "ok", metrics: { elementsChanged: 0, toInfinity: 0, toZero: 0, maxAbsError: 0, maxUlp: 0 } };
  }
  const overflow = layer !== null && overflowBlocks.has(layer) && (group === "mlp" || group === "o") ? Math.floor(rnd() * 2000) + 1 : 0;
  const toZero = Math.floor(rnd() * 50);
  return {
    name,
    layer,
    group,
    dtype: "bfloat16 → float16",
    shape,
    status: overflow > 0 ? "overflow" : "rounded",
    severity: overflow > 0 ? "error" : toZero > 47 ? "warning" : "ok",
    metrics: {
      elementsChanged: Math.floor(numel * (0.02 + rnd() * 0.1)),
      toInfinity: overflow,
      toZero,
      maxAbsError: overflow > 0 ? Infinity : rnd() * 1e-3,
      maxUlp: overflow > 0 ? null : Math.floor(rnd() * 4),
    },
  };
}

/** A made-up diff page of `tensors` rows; `hostile` puts {@link HOSTILE_STRINGS} in names, messages and facts. */
export function samplePage(params: { tensors: number; seed?: number; hostile?: boolean }): ReportPage {
  const rnd = uniform(params.seed ?? 1);
  const all = names(params.tensors);
  if (params.hostile) HOSTILE_STRINGS.forEach((h, i) => (all[Math.min(all.length - 1, 1 + i * 3)] = `model.layers.0.${h}.weight`));
  const rows = all.map((n) => row(n, rnd, new Set([3, 17, 29])));
  const overflowed = rows.filter((r) => r.status === "overflow");
  const total = overflowed.reduce((s, r) => s + (r.metrics.toInfinity ?? 0), 0);
  const hostile = params.hostile ? HOSTILE_STRINGS : [];
  const findings: Finding[] = [
    {
      severity: "error",
      code: "F16_OVERFLOW_SIGNATURE",
      message: `${total.toLocaleString("en-US")} values became inf in ${overflowed.length} tensors: b is a float16 copy of a bfloat16 model ${hostile[0] ?? ""}`,
      action: "re-export from the bfloat16 checkpoint without converting to float16",
      tensors: overflowed.map((r) => r.name),
    },
    { severity: "warning", code: "CONFIG_DTYPE_MISMATCH", message: `config.json says float32 but the tensors are float16 ${hostile[1] ?? ""}`, files: ["config.json", ...hostile] },
    { severity: "info", code: "SUBNORMAL_SHARE", message: `0.3% of the values are subnormal in float16 ${hostile[2] ?? ""}`, ...(params.hostile ? { action: hostile[3] } : {}) },
  ];
  return {
    kind: "diff",
    title: `truecast diff hf://org/model-bf16 hf://org/model-fp16 ${hostile[4] ?? ""}`.trim(),
    verdict: { severity: "error", text: `b is a rounded to float16: ${total.toLocaleString("en-US")} values overflowed to inf (damaged) ${hostile[0] ?? ""}`.trim() },
    facts: [
      { label: "tensors", value: rows.length.toLocaleString("en-US") },
      { label: "bit-identical", value: String(rows.filter((r) => r.status === "bit-identical").length) },
      { label: "requests", value: "34" },
      ...hostile.map((h, i) => ({ label: `fact ${i} ${h}`, value: h })),
    ],
    findings,
    tensors: rows,
    generator: "truecast 0.1.0",
    date: "2026-12-02T03:00:00Z",
  };
}
