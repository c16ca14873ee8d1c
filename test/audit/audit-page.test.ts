/** The audit's report page data (audit-page.ts): verdict, facts, findings, and a row per loaded tensor. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { auditModel } from "../../src/audit/audit.js";
import { auditReportPage } from "../../src/audit/audit-page.js";
import { openLocalStore } from "../../src/store/local-store.js";
import { fixture } from "../helpers.js";

const META = { generator: "truecast 0.1.0", date: "2026-12-02T03:00:00.000Z" };

describe("auditReportPage", () => {
  it("puts the verdict on top and marks the overflowed tensor's row", async () => {
    const result = await auditModel({ store: await openLocalStore(fixture("audit", "f16_overflow")), values: true });
    const page = auditReportPage(result, META);
    assert.equal(page.kind, "audit");
    assert.equal(page.title, `truecast audit ${fixture("audit", "f16_overflow")}`);
    assert.deepEqual(page.verdict, { severity: "error", text: "damaged: 1 error (F16_OVERFLOW_SIGNATURE)" });
    assert.deepEqual(page.findings.map((f) => f.code), ["F16_OVERFLOW_SIGNATURE"]);
    assert.equal(page.tensors.length, 12);
    const down = page.tensors.find((t) => t.name === "model.layers.0.mlp.down_proj.weight");
    assert.deepEqual(
      { layer: down?.layer, group: down?.group, dtype: down?.dtype, status: down?.status, severity: down?.severity, inf: down?.metrics["inf"], atMax: down?.metrics["atF16Max"] },
      { layer: 0, group: "mlp", dtype: "float16", status: "overflow", severity: "error", inf: 3, atMax: 0 },
    );
    const ok = page.tensors.filter((t) => t.status === "ok");
    assert.equal(ok.length, 11);
    for (const t of page.tensors) assert.deepEqual(Object.keys(t.metrics), ["bytes", "nan", "inf", "atF16Max", "overF16", "zeroShare", "subnormalShare", "absMax"]);
    assert.deepEqual(page.facts.find((f) => f.label === "checked"), { label: "checked", value: "headers and every value" });
    assert.deepEqual(auditReportPage(result, META), page, "pure: the same result gives the same page");
  });

  it("headers only: the rows carry bytes alone, and the intact model's verdict is ok", async () => {
    const page = auditReportPage(await auditModel({ store: await openLocalStore(fixture("audit", "intact")) }), META);
    assert.equal(page.verdict.severity, "ok");
    assert.deepEqual(page.tensors.find((t) => t.name === "lm_head.weight")?.metrics, { bytes: 1024 });
    assert.equal(page.tensors.find((t) => t.name === "lm_head.weight")?.group, "head");
  });
});
