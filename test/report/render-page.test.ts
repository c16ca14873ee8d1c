import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import type { ReportPage } from "../../src/report/page-data.js";
import { pageJson, scriptSafeJson } from "../../src/report/page-json.js";
import { PAGE_DATA_ID, renderReportPage } from "../../src/report/render-page.js";
import { HOSTILE_STRINGS, samplePage } from "./sample-page.js";

function dataText(html: string): string {
  const open = `<script type="application/json" id="${PAGE_DATA_ID}">`;
  const start = html.indexOf(open) + open.length;
  return html.slice(start, html.indexOf("</script>", start));
}

test("the page's JSON holds every string as is, with no <, >, &, U+2028 or U+2029 left in the text", () => {
  const page = samplePage({ tensors: 50, hostile: true });
  const html = renderReportPage(page);
  const text = dataText(html);
  assert.doesNotMatch(text, /[<>&\u2028\u2029]/);
  assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(pageJson(page))));
  const back = JSON.parse(text) as ReturnType<typeof pageJson>;
  assert.equal(back.verdict.text, page.verdict.text);
  assert.equal(back.title, page.title);
  assert.deepEqual(back.rows.name, page.tensors.map((r) => r.name));
  assert.deepEqual(back.findings.map((f) => f.message), page.findings.map((f) => f.message));
  // The data is only in the JSON: none of the hostile strings is anywhere in the markup around it.
  const markup = html.replace(text, "");
  for (const h of HOSTILE_STRINGS) assert.equal(markup.includes(h) || markup.includes(h.slice(0, 12)), false, h);
  // Exactly the page's two script elements and one style element.
  assert.equal(html.match(/<script/g)?.length, 2);
  assert.equal(html.match(/<\/script>/g)?.length, 2);
  assert.equal(html.match(/<style>/g)?.length, 1);
});

test("scriptSafeJson escapes the characters that could end the script element, and only those", () => {
  const value = { s: "</script><!--&amp;\u2028\u2029 ü 😀 \ud800", n: [1.5, null] };
  const text = scriptSafeJson(value);
  assert.equal(text, '{"s":"\\u003c/script\\u003e\\u003c!--\\u0026amp;\\u2028\\u2029 ü 😀 \\ud800","n":[1.5,null]}');
  assert.deepEqual(JSON.parse(text), value);
});

test("the CSP allows exactly the page's own inline script and style, by hash, and nothing from anywhere", () => {
  const html = renderReportPage(samplePage({ tensors: 3 }));
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html)?.[1] ?? "";
  const directives = new Map(csp.split("; ").map((d) => [d.split(" ")[0], d.split(" ").slice(1).join(" ")]));
  assert.equal(directives.get("default-src"), "'none'");
  for (const d of ["img-src", "font-src", "connect-src", "object-src", "frame-src", "base-uri", "form-action"]) assert.equal(directives.get(d), "'none'", d);
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? "";
  const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? "";
  const hash = (s: string) => `'sha256-${createHash("sha256").update(s).digest("base64")}'`;
  assert.equal(directives.get("script-src"), hash(script));
  assert.equal(directives.get("style-src"), hash(style));
  assert.equal(directives.get("require-trusted-types-for"), "'script'");
  // The policy comes before anything it governs, and nothing names another origin.
  assert.ok(html.indexOf("Content-Security-Policy") < html.indexOf("<style>"));
  // (The SVG namespace is a name, not a request.)
  assert.doesNotMatch(html.replace(dataText(html), "").replace('"http://www.w3.org/2000/svg"', ""), /\b(src|href)=|https?:\/\/|@import|url\(/);
});

test("metrics keep Infinity, -Infinity and NaN; repeated words are stored once; shapes are text with element counts", () => {
  const page: ReportPage = {
    ...samplePage({ tensors: 0 }),
    tensors: [
      { name: "a", layer: 2, group: "q", dtype: "bfloat16", shape: [4, 8], status: "overflow", severity: "error", metrics: { inf: Infinity, maxAbsError: -Infinity } },
      { name: "b", layer: null, group: "head", dtype: "bfloat16", shape: [], status: "ok", severity: "ok", metrics: { inf: 0, maxAbsError: NaN, nan: 3 } },
    ],
  };
  const rows = (JSON.parse(dataText(renderReportPage(page))) as ReturnType<typeof pageJson>).rows;
  assert.deepEqual(rows.metricNames, ["inf", "maxAbsError", "nan"]);
  assert.deepEqual(rows.metrics, [["Infinity", 0], ["-Infinity", "NaN"], [null, 3]]);
  assert.deepEqual(rows.dtypes, ["bfloat16"]);
  assert.deepEqual(rows.dtype, [0, 0]);
  assert.deepEqual([rows.shape, rows.numel], [["4×8", "scalar"], [32, 1]]);
  assert.deepEqual([rows.layer, rows.severity], [[2, null], [3, 0]]);
});
