import { after, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { fixture } from "../../helpers.js";
import { openPeftAdapter } from "../../../src/sources/peft.js";
import { openSafetensorsFile, openSafetensorsFolder } from "../../../src/sources/safetensors.js";
import type { SourceModel } from "../../../src/sources/tensor-ref.js";
import { mergeLora } from "../../../src/transforms/lora/merge-lora.js";
import { createMergePool } from "../../../src/transforms/lora/pool.js";
import { readAllBytes } from "../../../src/transforms/lora/tensor-io.js";

/** One pool for the file; minParallelWork 0 so every block really goes through the worker threads. */
const pool = createMergePool({ size: 2, minParallelWork: 0 });
after(() => pool.close());

interface Expected {
  modules: Record<string, { changed: number; tooSmall: number; scaling: number; r: number; bias?: { changed: number; tooSmall: number } }>;
  replaced?: Record<string, string>;
}

/** bf16 bit patterns on a line where neighbours differ by 1 (±0 both 0). */
function ordered(u: number): number {
  return u & 0x8000 ? -(u & 0x7fff) : u;
}

async function tensorsOf(model: SourceModel): Promise<Map<string, { dtype: string; bytes: Uint8Array }>> {
  const out = new Map<string, { dtype: string; bytes: Uint8Array }>();
  for (const t of model.tensors) out.set(t.name, { dtype: t.dtype, bytes: await readAllBytes(t) });
  return out;
}

/** Small blocks (a few rows each) so every fixture goes through the multi-block path, DoRA column passes included. */
async function mergeFixture(name: string) {
  const base = await openSafetensorsFolder(fixture("lora", "base"));
  const adapter = await openPeftAdapter(fixture("lora", name));
  return mergeLora({ base, adapter, pool, blockElements: 300 });
}

for (const name of ["plain", "rslora", "pattern", "fan_in_fan_out", "dora", "dora_fan_in_fan_out", "embedding", "lora_bias", "modules_to_save"]) {
  test(`${name}: merged tensors match PyTorch's (≥ 99.99% bit-identical, ≤ 1 ulp), other tensors untouched`, async () => {
    const expected = JSON.parse(await readFile(fixture("lora", name, "expected.json"), "utf8")) as Expected;
    const { model, report } = await mergeFixture(name);
    try {
      const merged = await tensorsOf(model);
      const reference = await openSafetensorsFile(fixture("lora", name, "reference.safetensors"));
      const baseModel = await openSafetensorsFolder(fixture("lora", "base"));
      const refNames = new Set(reference.tensors.map((t) => t.name));
      let total = 0;
      let identical = 0;
      for (const ref of reference.tensors) {
        const got = merged.get(ref.name);
        assert.ok(got, `merged model lacks ${ref.name}`);
        assert.equal(got.dtype, ref.dtype, ref.name);
        const want = await readAllBytes(ref);
        assert.equal(got.bytes.byteLength, want.byteLength, ref.name);
        const a = new DataView(got.bytes.buffer, got.bytes.byteOffset, got.bytes.byteLength);
        const b = new DataView(want.buffer, want.byteOffset, want.byteLength);
        for (let i = 0; i < want.byteLength; i += 2) {
          const d = Math.abs(ordered(a.getUint16(i, true)) - ordered(b.getUint16(i, true)));
          assert.ok(d <= 1, `${ref.name}: element ${i / 2} is ${d} ulp from PyTorch's`);
          total++;
          if (d === 0) identical++;
        }
      }
      assert.ok(identical / total >= 0.9999, `${identical} of ${total} elements bit-identical`);
      for (const t of baseModel.tensors) {
        if (refNames.has(t.name)) continue;
        assert.deepEqual(merged.get(t.name)?.bytes, await readAllBytes(t), `${t.name} must pass through untouched`);
      }
      await Promise.all([reference.close(), baseModel.close()]);

      // report: module settings and counts, and a route for every adapter tensor
      assert.equal(report.modules.length, Object.keys(expected.modules).length);
      for (const m of report.modules) {
        const e = expected.modules[m.module];
        assert.ok(e, `unexpected module ${m.module}`);
        assert.equal(m.rank, e.r, m.module);
        assert.equal(m.scaling, e.scaling, m.module);
        assert.equal(m.weight.changed, e.changed, `${m.module}: elements changed`);
        assert.equal(m.weight.tooSmall, e.tooSmall, `${m.module}: elements the delta was too small to move`);
        if (e.bias) {
          assert.equal(m.bias?.changed, e.bias.changed);
          assert.equal(m.bias?.tooSmall, e.bias.tooSmall);
        }
      }
      const adapterFile = fixture("lora", name, name === "modules_to_save" ? "adapter_model.bin" : "adapter_model.safetensors");
      assert.equal(report.weightsFile, adapterFile);
      for (const [target, key] of Object.entries(expected.replaced ?? {})) {
        assert.ok(report.routes.some((r) => r.adapterTensor === key && r.target === target && r.action === "replaced"), `${key} → ${target}`);
      }
    } finally {
      await model.close();
    }
  });
}

test("every adapter tensor has exactly one route per target", async () => {
  const { model, report } = await mergeFixture("dora");
  try {
    const adapter = await openSafetensorsFile(fixture("lora", "dora", "adapter_model.safetensors"));
    const keys = adapter.tensors.map((t) => t.name).sort();
    await adapter.close();
    assert.deepEqual(report.routes.map((r) => r.adapterTensor).sort(), keys);
    const q = report.routes.filter((r) => r.target === "model.layers.0.self_attn.q_proj.weight").map((r) => r.role).sort();
    assert.deepEqual(q, ["lora_A", "lora_B", "lora_magnitude_vector"]);
    const e = report.routes.filter((r) => r.target === "model.embed_tokens.weight").map((r) => r.role).sort();
    assert.deepEqual(e, ["lora_embedding_A", "lora_embedding_B", "lora_magnitude_vector"]);
    assert.ok(report.modules.every((m) => m.variant === "dora"));
  } finally {
    await model.close();
  }
});

test("a targeted module missing from the base is an error naming it", async () => {
  const base = await openSafetensorsFolder(fixture("lora", "base"));
  const adapter = await openPeftAdapter(fixture("lora", "bad_missing_module"));
  try {
    await assert.rejects(mergeLora({ base, adapter, pool }), (e: Error & { code?: string }) => {
      assert.equal(e.code, "ADAPTER_INVALID");
      assert.match(e.message, /module "model\.layers\.0\.mlp\.gate_proj".*no tensor "model\.layers\.0\.mlp\.gate_proj\.weight"/);
      return true;
    });
  } finally {
    await Promise.all([base.close(), adapter.close()]);
  }
});

test("a merge that turns finite weights into infinities stops naming the module", async () => {
  const { model } = await mergeFixture("bad_nonfinite");
  try {
    const q = model.tensors.find((t) => t.name === "model.layers.0.self_attn.q_proj.weight");
    assert.ok(q);
    await assert.rejects(readAllBytes(q), (e: Error & { code?: string }) => {
      assert.equal(e.code, "MERGE_NONFINITE");
      assert.match(e.message, /module "model\.layers\.0\.self_attn\.q_proj" gives (Infinity|-Infinity|NaN)/);
      return true;
    });
  } finally {
    await model.close();
  }
});

test("outputDtype rounds the float32 merge straight into the asked dtype", async () => {
  const base = await openSafetensorsFolder(fixture("lora", "base"));
  const adapter = await openPeftAdapter(fixture("lora", "plain"));
  const { model, report } = await mergeLora({ base, adapter, pool, outputDtype: () => "F32" });
  try {
    const q = model.tensors.find((t) => t.name === "model.layers.0.self_attn.q_proj.weight");
    assert.equal(q?.dtype, "F32");
    assert.equal(q?.byteLength, 64 * 64 * 4);
    const bytes = await readAllBytes(q!);
    assert.equal(bytes.byteLength, 64 * 64 * 4);
    assert.equal(report.modules.find((m) => m.module.endsWith("q_proj"))?.outputDtype, "F32");
    // untargeted tensors keep their dtype
    assert.equal(model.tensors.find((t) => t.name === "lm_head.weight")?.dtype, "BF16");
  } finally {
    await model.close();
  }
});

test("fan_in_fan_out follows the weight's stored shape, as PEFT does, with a note when the config disagrees", async () => {
  const base = await openSafetensorsFolder(fixture("lora", "base"));
  const opened = await openPeftAdapter(fixture("lora", "fan_in_fan_out"));
  const adapter = { ...opened, config: { ...opened.config, fanInFanOut: false } };
  const { model, report } = await mergeLora({ base, adapter, pool });
  try {
    assert.equal(report.modules[0]?.layout, "in×out");
    assert.equal(report.modules[0]?.layoutFrom, "shape");
    assert.ok(report.notes.some((n) => /^the adapter config says fan_in_fan_out=false, but 1 modules are Conv1D, stored \[in, out\] \(transformer\.h\.0\.attn\.c_attn\): merged as such, as PEFT does/.test(n)), report.notes.join("\n"));
    const reference = await openSafetensorsFile(fixture("lora", "fan_in_fan_out", "reference.safetensors"));
    const want = await readAllBytes(reference.tensors[0]!);
    await reference.close();
    assert.deepEqual(await readAllBytes(model.tensors.find((t) => t.name === "transformer.h.0.attn.c_attn.weight")!), want);
  } finally {
    await model.close();
  }
});

test("a rank in the tensors that the config does not give is refused", async () => {
  const base = await openSafetensorsFolder(fixture("lora", "base"));
  const opened = await openPeftAdapter(fixture("lora", "pattern"));
  const adapter = { ...opened, config: { ...opened.config, rankPattern: new Map<string, number>() } };
  try {
    await assert.rejects(mergeLora({ base, adapter, pool }), { code: "ADAPTER_INVALID", message: /module "model\.layers\.0\.[a-z_.]+" has rank (4|12) in its tensors but the config \(r, rank_pattern\) gives 8/ });
  } finally {
    await Promise.all([base.close(), adapter.close()]);
  }
});

test("without a pool, the merge starts its own and the merged model's close() stops it", async () => {
  const base = await openSafetensorsFolder(fixture("lora", "base"));
  const adapter = await openPeftAdapter(fixture("lora", "rslora"));
  const { model, report } = await mergeLora({ base, adapter });
  try {
    const up = model.tensors.find((t) => t.name === "model.layers.0.mlp.up_proj.weight");
    assert.equal((await readAllBytes(up!)).byteLength, 128 * 64 * 2);
    const m = report.modules.find((x) => x.module === "model.layers.0.mlp.up_proj");
    assert.equal(m?.weight.elements, 128 * 64);
    assert.ok(m?.weight.changed !== null && m?.weight.cast !== null);
  } finally {
    await model.close();
  }
});

/** Compare 16-bit float tensors of a merged model with a reference file: ≥ 99.99% identical, ≤ 1 ulp apart. */
async function assertMatches16(model: SourceModel, referenceFile: string, dtype: string): Promise<void> {
  const reference = await openSafetensorsFile(referenceFile);
  try {
    let total = 0;
    let identical = 0;
    for (const ref of reference.tensors) {
      const t = model.tensors.find((x) => x.name === ref.name);
      assert.ok(t, ref.name);
      assert.equal(t.dtype, dtype);
      const got = await readAllBytes(t);
      const want = await readAllBytes(ref);
      const a = new DataView(got.buffer, got.byteOffset, got.byteLength);
      const b = new DataView(want.buffer, want.byteOffset, want.byteLength);
      for (let i = 0; i < want.byteLength; i += 2) {
        const d = Math.abs(ordered(a.getUint16(i, true)) - ordered(b.getUint16(i, true)));
        assert.ok(d <= 1, `${ref.name}: element ${i / 2} is ${d} ulp from PyTorch's`);
        total++;
        if (d === 0) identical++;
      }
    }
    assert.ok(total > 0 && identical / total >= 0.9999, `${identical} of ${total} elements bit-identical`);
  } finally {
    await reference.close();
  }
}

test("a float16 base merges into float16, matching PyTorch", async () => {
  const base = await openSafetensorsFolder(fixture("lora", "base_f16"));
  const adapter = await openPeftAdapter(fixture("lora", "plain"));
  const { model, report } = await mergeLora({ base, adapter, pool, blockElements: 300 });
  try {
    await assertMatches16(model, fixture("lora", "plain", "reference_f16_base.safetensors"), "F16");
    assert.ok(report.modules.every((m) => m.inputDtype === "F16" && m.outputDtype === "F16"));
  } finally {
    await model.close();
  }
});

test("a bf16 base merged with outputDtype F16 is rounded once from float32 into float16, matching PyTorch", async () => {
  const base = await openSafetensorsFolder(fixture("lora", "base"));
  const adapter = await openPeftAdapter(fixture("lora", "plain"));
  const { model, report } = await mergeLora({ base, adapter, pool, outputDtype: (d) => (d === "BF16" ? "F16" : d) });
  try {
    await assertMatches16(model, fixture("lora", "plain", "reference_as_f16.safetensors"), "F16");
    const q = report.modules.find((m) => m.module.endsWith("q_proj"));
    assert.equal(q?.weight.cast?.from, "F32");
    assert.equal(q?.weight.cast?.to, "F16");
    assert.equal(q?.weight.cast?.elements, 64 * 64);
  } finally {
    await model.close();
  }
});
