/**
 * The report page in a real browser (Debian's chromium, headless): it loads from a file:// URL with every other
 * request aborted and recorded, shows the verdict, sorts and filters, draws something (the screenshot is not
 * blank) and shows hostile names and messages as text without running them.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import type { ReportPage, TensorRow } from "../../src/report/page-data.js";
import { writeReportPage } from "../../src/report/write-page.js";
import { launchBrowser, openPage } from "../support/browser.js";
import { pngColours } from "../support/png.js";
import { HOSTILE_STRINGS, samplePage } from "./sample-page.js";

// The callbacks handed to page.evaluate and friends run in the browser (playwright sends their source there); these
// are that side's globals, untyped because the project compiles without the DOM library.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const document: any, window: any;

let browser: Browser;
let dir: string;
before(async () => {
  browser = await launchBrowser();
  dir = await mkdtemp(join(tmpdir(), "truecast-report-page-"));
});
after(async () => {
  await browser?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function written(name: string, page: ReportPage): Promise<string> {
  const file = join(dir, name);
  await writeReportPage(file, page);
  return file;
}

/** The first cell of each row in the document (the virtualized table holds only the rows near the view). */
function names(page: Page): Promise<string[]> {
  return page.$$eval("#tensor-table tbody tr:not(.spacer):not(.no-rows)", (rows) => rows.map((r: any) => r.cells[0]?.textContent ?? ""));
}

function column(page: Page, label: string): Promise<string[]> {
  return page.$$eval(
    "#tensor-table",
    (tables, label) => {
      const t = tables[0] as any;
      const k = [...t.tHead.rows[0].cells].findIndex((c: any) => c.querySelector("button")?.firstChild?.textContent === label);
      return [...t.tBodies[0].rows].filter((r: any) => !r.classList.contains("spacer") && !r.classList.contains("no-rows")).map((r: any) => r.cells[k]?.textContent ?? "");
    },
    label,
  );
}

async function clickHeader(page: Page, label: string): Promise<void> {
  await page.locator("#tensor-table thead button", { hasText: new RegExp(`^${label}`) }).first().click();
}

test("the sample page loads offline, shows the verdict, sorts, filters and draws", async () => {
  const data = samplePage({ tensors: 2000 });
  const opened = await openPage(browser, await written("sample.html", data));
  const { page } = opened;
  try {
    assert.equal(await page.locator("#verdict").isVisible(), true);
    assert.equal(await page.locator("#verdict .verdict-text").textContent(), data.verdict.text);
    assert.match((await page.locator("#verdict").getAttribute("class")) ?? "", /sev-error/);
    assert.equal(await page.title(), data.title);
    assert.equal(await page.locator("#row-count").textContent(), "showing 2,000 of 2,000");
    assert.deepEqual((await page.locator("#findings .code").allTextContents()), ["F16_OVERFLOW_SIGNATURE", "CONFIG_DTYPE_MISMATCH", "SUBNORMAL_SHARE"]);
    assert.equal(await page.locator("#metric-charts svg rect.bar").count() > 0, true, "the metric chart draws bars");

    // Sorting by name: ascending, then descending on a second click.
    const byName = data.tensors.map((r) => r.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    await clickHeader(page, "name");
    assert.deepEqual((await names(page)).slice(0, 10), byName.slice(0, 10));
    assert.equal(await page.locator("#tensor-table th[aria-sort=ascending]").count(), 1);
    await clickHeader(page, "name");
    assert.deepEqual((await names(page)).slice(0, 10), byName.slice(-10).reverse());

    // A metric sorts numerically, largest first on the first click: 1,999 before 200 (a text sort would not).
    await clickHeader(page, "toInfinity");
    const inf = (await column(page, "toInfinity")).slice(0, 12).map((s) => Number(s.replace(/,/g, "")));
    const expected = data.tensors.map((r) => r.metrics.toInfinity ?? 0).sort((a, b) => b - a).slice(0, 12);
    assert.deepEqual(inf, expected);

    // Filters narrow the rows: name text, then severity.
    await page.fill("#filter-name", "layers.3.mlp");
    await page.waitForFunction(() => document.querySelector("#row-count")?.textContent === "showing 3 of 2,000");
    assert.deepEqual((await names(page)).sort(), ["model.layers.3.mlp.down_proj.weight", "model.layers.3.mlp.gate_proj.weight", "model.layers.3.mlp.up_proj.weight"]);
    await page.fill("#filter-name", "");
    await page.selectOption("#filter-severity", "3");
    const errors = data.tensors.filter((r) => r.severity === "error").length;
    await page.waitForFunction((n) => document.querySelector("#row-count")?.textContent === `showing ${n} of 2,000`, errors);
    assert.deepEqual(new Set(await column(page, "severity")), new Set(["error"]));
    assert.equal((await names(page)).length, errors);

    const shot = pngColours(await page.screenshot({ fullPage: true }));
    assert.ok(shot.distinct >= 16 && shot.dominantShare < 0.95, `the screenshot looks blank: ${JSON.stringify(shot)}`);
    assert.deepEqual(opened.problems, []);
  } finally {
    await opened.close();
  }
});

test("the blank-page check fails on a blank page", async () => {
  const opened = await openPage(browser, await written("blank.html", samplePage({ tensors: 0 })));
  try {
    await opened.page.evaluate(() => document.body.replaceChildren());
    const shot = pngColours(await opened.page.screenshot({ fullPage: true }));
    assert.ok(!(shot.distinct >= 16 && shot.dominantShare < 0.95), `a blank page passed the check: ${JSON.stringify(shot)}`);
  } finally {
    await opened.close();
  }
});

test("hostile names, messages and facts are shown as text and never run", async () => {
  const data = samplePage({ tensors: 200, hostile: true });
  const opened = await openPage(browser, await written("hostile.html", data));
  const { page } = opened;
  try {
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.equal(await page.locator("#verdict .verdict-text").textContent(), data.verdict.text);
    assert.equal(await page.title(), data.title);
    assert.deepEqual(await page.locator("#facts dd").allTextContents(), data.facts.map((f) => f.value));
    assert.deepEqual(await page.locator("#facts dt").allTextContents(), data.facts.map((f) => f.label));
    assert.deepEqual(await page.locator("#findings .message").allTextContents(), data.findings.map((f) => f.message));
    // Nothing the strings hold became an element: only the page's own two scripts, no images, frames, links or styles.
    const counts = await page.evaluate(() => ({
      scripts: document.scripts.length,
      other: document.querySelectorAll("img, iframe, a, object, embed, body style, svg[onload], [onerror], [onload]").length,
    }));
    assert.deepEqual(counts, { scripts: 2, other: 0 });
    await page.fill("#filter-name", "model.layers.0.<");
    const hostileNames = data.tensors.map((r) => r.name).filter((n) => n.startsWith("model.layers.0.<"));
    await page.waitForFunction((n) => document.querySelector("#row-count")?.textContent === `showing ${n} of 200`, hostileNames.length);
    assert.deepEqual((await names(page)).sort(), [...hostileNames].sort());
    for (const h of HOSTILE_STRINGS) assert.ok(data.tensors.some((r) => r.name.includes(h)), `the sample holds ${h}`);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.deepEqual(opened.problems, []);
  } finally {
    await opened.close();
  }
});

function metricRow(name: string, v: number | null): TensorRow {
  return { name, layer: null, group: "other", dtype: "float32", shape: [1], status: "ok", severity: "ok", metrics: { maxAbsError: v } };
}

test("numbers sort with -inf < finite < inf, then NaN, then empty cells last in both directions", async () => {
  const values: [string, number | null][] = [["a", 3], ["b", null], ["c", Infinity], ["d", -Infinity], ["e", NaN], ["f", 0.5], ["g", 10]];
  const page: ReportPage = {
    ...samplePage({ tensors: 0 }),
    tensors: values.map(([n, v]) => metricRow(n, v)),
  };
  const opened = await openPage(browser, await written("order.html", page));
  try {
    await clickHeader(opened.page, "maxAbsError");
    assert.deepEqual(await names(opened.page), ["c", "g", "a", "f", "d", "e", "b"]);
    assert.deepEqual(await column(opened.page, "maxAbsError"), ["inf", "10", "3", "0.5", "-inf", "NaN", ""]);
    await clickHeader(opened.page, "maxAbsError");
    assert.deepEqual(await names(opened.page), ["d", "f", "a", "g", "c", "e", "b"]);
    assert.deepEqual(opened.problems, []);
  } finally {
    await opened.close();
  }
});

test("a 100k-tensor page keeps a screenful of rows in the document and sorts and filters all of them", async (t) => {
  const data = samplePage({ tensors: 100_000, seed: 7 });
  const file = await written("large.html", data);
  const started = performance.now();
  const opened = await openPage(browser, file);
  const { page } = opened;
  try {
    t.diagnostic(`load: ${Math.round(performance.now() - started)} ms`);
    assert.equal(await page.locator("#row-count").textContent(), "showing 100,000 of 100,000");
    const rendered = async () => (await names(page)).length;
    assert.ok((await rendered()) <= 120, `rows in the document: ${await rendered()}`);
    assert.ok((await page.evaluate(() => document.getElementsByTagName("*").length)) < 5000);

    // Scrolled to the end, the last tensor is in view.
    await page.locator("#table-scroll").evaluate((e: any) => (e.scrollTop = e.scrollHeight));
    const last = data.tensors.at(-1)!.name;
    await page.waitForFunction((n) => [...document.querySelectorAll("#tensor-table tbody td:first-child")].some((td: any) => td.textContent === n), last);
    assert.ok((await rendered()) <= 120);

    let at = performance.now();
    await clickHeader(page, "name");
    const sorted = data.tensors.map((r) => r.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    assert.deepEqual((await names(page)).slice(0, 5), sorted.slice(0, 5));
    t.diagnostic(`sort 100k by name: ${Math.round(performance.now() - at)} ms`);

    at = performance.now();
    await page.fill("#filter-name", "layers.1234.");
    await page.waitForFunction(() => document.querySelector("#row-count")?.textContent === "showing 9 of 100,000");
    t.diagnostic(`filter 100k by name: ${Math.round(performance.now() - at)} ms`);
    assert.deepEqual((await names(page)).slice(0, 2), ["model.layers.1234.input_layernorm.weight", "model.layers.1234.mlp.down_proj.weight"]);
    const heap = await page.evaluate(() => (performance as any).memory?.usedJSHeapSize ?? 0);
    t.diagnostic(`JS heap: ${Math.round(heap / 1e6)} MB`);
    assert.deepEqual(opened.problems, []);
  } finally {
    await opened.close();
  }
});

test("a clean page with no findings, no tensors and no metrics shows the ok verdict and no errors", async () => {
  const clean: ReportPage = { ...samplePage({ tensors: 0 }), verdict: { severity: "ok", text: "b is a bit-exact copy of a" }, findings: [], facts: [] };
  const opened = await openPage(browser, await written("clean.html", clean));
  try {
    assert.match((await opened.page.locator("#verdict").getAttribute("class")) ?? "", /sev-ok/);
    assert.equal(await opened.page.locator("#verdict .verdict-text").textContent(), "b is a bit-exact copy of a");
    assert.equal(await opened.page.locator("#findings .empty").textContent(), "No findings.");
    assert.equal(await opened.page.locator("#row-count").textContent(), "showing 0 of 0");
    assert.equal(await opened.page.locator("#tensor-table .no-rows").count(), 1);
    assert.deepEqual(opened.problems, []);
  } finally {
    await opened.close();
  }
});

test("the harness catches a page that makes a request or logs an error (so the checks above can fail)", async () => {
  const file = join(dir, "leaky.html");
  await writeFile(file, '<!doctype html><img src="http://example.invalid/x.png"><script>console.error("boom"); document.documentElement.setAttribute("data-ready", "1")</script>');
  const opened = await openPage(browser, file);
  try {
    assert.ok(opened.problems.includes("request: http://example.invalid/x.png"), opened.problems.join("; "));
    assert.ok(opened.problems.includes("console error: boom"), opened.problems.join("; "));
  } finally {
    await opened.close();
  }
});
