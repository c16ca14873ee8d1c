/**
 * The report page: one self-contained HTML file that needs no network (a Content-Security-Policy forbids any
 * request, and allows only its own inline style and script, by hash). The page's data sits once, as escaped JSON
 * in `<script type="application/json">`; the page's script builds every element from it with `textContent`, so
 * no tensor name or message is ever parsed as HTML.
 */
import { createHash } from "node:crypto";
import type { ReportPage } from "./page-data.js";
import { pageJson, scriptSafeJson } from "./page-json.js";
import { PAGE_SCRIPT } from "./page-script.js";
import { PAGE_STYLE } from "./page-style.js";

/** The id of the element that holds the page's JSON. */
export const PAGE_DATA_ID = "truecast-data";

function cspHash(source: string): string {
  return `'sha256-${createHash("sha256").update(source, "utf8").digest("base64")}'`;
}

/**
 * The policy: nothing may load (`default-src 'none'` and each fetch directive spelled out), only the page's own
 * style and script run, and Trusted Types are required, so even a mistaken `innerHTML` in the page's script throws
 * instead of parsing data as HTML.
 */
export function pageCsp(script: string, style: string): string {
  return [
    "default-src 'none'",
    `script-src ${cspHash(script)}`,
    `style-src ${cspHash(style)}`,
    "img-src 'none'",
    "font-src 'none'",
    "connect-src 'none'",
    "media-src 'none'",
    "object-src 'none'",
    "frame-src 'none'",
    "worker-src 'none'",
    "manifest-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
  ].join("; ");
}

/**
 * The report page for `page` as one HTML document (UTF-8): the verdict on top, the facts, the findings by
 * severity, charts per block and per kind of weight, and a sortable, filterable table of every tensor (drawn a
 * screenful at a time, so 100k tensors stay responsive). Every string of `page` is treated as untrusted.
 */
export function renderReportPage(page: ReportPage): string {
  const data = scriptSafeJson(pageJson(page));
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${pageCsp(PAGE_SCRIPT, PAGE_STYLE)}">`,
    '<meta name="referrer" content="no-referrer">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    "<title>truecast report</title>",
    `<style>${PAGE_STYLE}</style>`,
    "</head>",
    "<body>",
    '<noscript><p class="noscript">This report draws its content with JavaScript; open it in a browser with scripts enabled.</p></noscript>',
    '<main id="app"></main>',
    `<script type="application/json" id="${PAGE_DATA_ID}">${data}</script>`,
    `<script>${PAGE_SCRIPT}</script>`,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
