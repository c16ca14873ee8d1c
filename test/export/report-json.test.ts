import { test } from "node:test";
import assert from "node:assert/strict";
import { reportJson, writeReportJson } from "../../src/export/report-json.js";

async function streamed(report: Parameters<typeof writeReportJson>[0]): Promise<{ text: string; writes: number; longest: number }> {
  let text = "";
  let writes = 0;
  let longest = 0;
  await writeReportJson(report, (t) => {
    text += t;
    writes++;
    longest = Math.max(longest, t.length);
  });
  return { text, writes, longest };
}

test("the streamed report is the same JSON as the whole one, in pieces of about 1 MB", async () => {
  const tensors = Array.from({ length: 20_000 }, (_, i) => ({
    name: `model.layers.${i}.weight`,
    dtype: "BF16",
    sourceDtype: "F32",
    shape: [4, 4],
    digest: `xxh3-64:${i.toString(16).padStart(16, "0")}`,
    cast: { from: "F32", to: "BF16", maxAbsError: i === 7 ? Infinity : 0.5 },
  }));
  const report = { dtype: "BF16", bytesByDtype: { BF16: 640_000 }, tensors, verified: { tensors: 20_000 } };
  const { text, writes, longest } = await streamed(report);
  const whole = JSON.parse(reportJson(report)) as Record<string, unknown>;
  const parsed = JSON.parse(text) as Record<string, unknown>;
  assert.deepEqual(parsed, whole);
  assert.equal(parsed["schemaVersion"], 1);
  assert.equal((parsed["tensors"] as { dtype: string }[])[3]?.dtype, "bfloat16");
  assert.equal((parsed["tensors"] as { cast: { maxAbsError: unknown } }[])[7]?.cast.maxAbsError, "Infinity");
  assert.ok(writes > 2, `${writes} writes`);
  assert.ok(longest < 1.1 * 2 ** 20, `a piece of ${longest} characters`);
  assert.ok(text.endsWith("\n  ]\n}\n"));
});

test("no tensors, or an empty list, still make valid JSON", async () => {
  assert.deepEqual(JSON.parse((await streamed({ dtype: "F16" })).text), { schemaVersion: 1, dtype: "float16" });
  assert.deepEqual(JSON.parse((await streamed({ tensors: [] })).text), { schemaVersion: 1, tensors: [] });
  assert.deepEqual(JSON.parse((await streamed({ tensors: [{ a: 1 }] })).text), { schemaVersion: 1, tensors: [{ a: 1 }] });
});
