/**
 * The report page's script (inline; the page's CSP allows it by hash). It reads the page's JSON and builds every
 * element with createElement and textContent: no string of the data is ever parsed as HTML. Written as plain
 * ES2017 in a string (the project compiles without DOM types); the browser tests run it.
 */
import { CHART_SCRIPT } from "./page-script-charts.js";
import { TABLE_SCRIPT } from "./page-script-table.js";

const MAIN_SCRIPT = String.raw`
var SEVERITY_WORDS = ["ok", "info", "warning", "error"];
var SVG_NS = "http://www.w3.org/2000/svg";

function el(tag, className, text) {
  var e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function svg(tag, attrs) {
  var e = document.createElementNS(SVG_NS, tag);
  for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, String(attrs[k]));
  return e;
}
function num(v) {
  if (typeof v === "number") return v;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  if (v === "NaN") return NaN;
  return null;
}
function fmt(v) {
  if (v === null || v === undefined) return "\u2014";
  if (v !== v) return "NaN";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString("en-US");
  var a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return String(Number(v.toPrecision(4)));
}
function section(app, id, title) {
  var s = el("section", "panel");
  s.id = id;
  s.appendChild(el("h2", null, title));
  app.appendChild(s);
  return s;
}

function buildHeader(data, app) {
  var head = el("header", "top");
  head.appendChild(el("div", "title", data.title));
  var verdict = el("div", "verdict sev-" + SEVERITY_WORDS[data.verdict.severity]);
  verdict.id = "verdict";
  verdict.setAttribute("role", "status");
  verdict.appendChild(el("span", "badge", SEVERITY_WORDS[data.verdict.severity]));
  verdict.appendChild(el("span", "verdict-text", data.verdict.text));
  head.appendChild(verdict);
  if (data.facts.length > 0) {
    var dl = el("dl", "facts");
    dl.id = "facts";
    data.facts.forEach(function (f) {
      var d = el("div", "fact");
      d.appendChild(el("dt", null, f.label));
      d.appendChild(el("dd", null, f.value));
      dl.appendChild(d);
    });
    head.appendChild(dl);
  }
  app.appendChild(head);
}

var MAX_LISTED = 20;
function nameList(names, onPick) {
  var ul = el("ul", "names");
  names.slice(0, MAX_LISTED).forEach(function (n) {
    var li = el("li");
    if (onPick) {
      var b = el("button", "name-link", n);
      b.type = "button";
      b.title = "show this tensor in the table";
      b.addEventListener("click", function () { onPick(n); });
      li.appendChild(b);
    } else li.appendChild(el("code", null, n));
    ul.appendChild(li);
  });
  if (names.length > MAX_LISTED) ul.appendChild(el("li", "more", "and " + (names.length - MAX_LISTED).toLocaleString("en-US") + " more"));
  return ul;
}

function buildFindings(data, app, pickTensor) {
  var s = section(app, "findings", "Findings (" + data.findings.length.toLocaleString("en-US") + ")");
  if (data.findings.length === 0) {
    s.appendChild(el("p", "empty", "No findings."));
    return;
  }
  [[3, "Errors"], [2, "Warnings"], [1, "Notes"]].forEach(function (g) {
    var items = data.findings.filter(function (f) { return f.severity === g[0]; });
    if (items.length === 0) return;
    var box = el("div", "finding-group sev-" + SEVERITY_WORDS[g[0]]);
    box.appendChild(el("h3", null, g[1] + " (" + items.length.toLocaleString("en-US") + ")"));
    items.forEach(function (f) {
      var item = el("div", "finding");
      var line = el("div", "finding-line");
      line.appendChild(el("code", "code", f.code));
      line.appendChild(el("span", "message", f.message));
      item.appendChild(line);
      if (f.action) item.appendChild(el("div", "action", "What to do: " + f.action));
      if (f.tensors.length > 0) {
        var dt = el("details", "concerns");
        dt.appendChild(el("summary", null, "tensors (" + f.tensors.length.toLocaleString("en-US") + ")"));
        dt.appendChild(nameList(f.tensors, pickTensor));
        item.appendChild(dt);
      }
      if (f.files.length > 0) {
        var df = el("details", "concerns");
        df.appendChild(el("summary", null, "files (" + f.files.length.toLocaleString("en-US") + ")"));
        df.appendChild(nameList(f.files, null));
        item.appendChild(df);
      }
      box.appendChild(item);
    });
    s.appendChild(box);
  });
}

function main() {
  var source = document.getElementById("truecast-data");
  var data = JSON.parse(source.textContent);
  var app = document.getElementById("app");
  document.title = data.title || "truecast report";
  buildHeader(data, app);
  var table = null;
  buildFindings(data, app, function (name) { if (table) table.showName(name); });
  buildCharts(data, app);
  table = buildTable(data, app);
  var foot = el("footer", "foot", (data.generator ? data.generator + ", " : "") + data.date);
  app.appendChild(foot);
  document.documentElement.setAttribute("data-ready", "1");
}
`;

/** The whole script: helpers, the header and findings, the charts and the table, run once on load. */
export const PAGE_SCRIPT = `"use strict";\n(function () {\n${MAIN_SCRIPT}\n${CHART_SCRIPT}\n${TABLE_SCRIPT}\nmain();\n})();\n`;
