/**
 * The report page's charts, as script text inside the page's script (see page-script.ts): bar charts drawn as
 * inline SVG from the series chart-data.ts computed, per transformer block and per kind of weight.
 */
export const CHART_SCRIPT = String.raw`
var SEVERITY_COLOURS = ["#c62828", "#ef8f00", "#1565c0"];
var CHART_W = 560, CHART_H = 200, PAD_L = 56, PAD_R = 8, PAD_T = 14, PAD_B = 30;


// series: [{ name, colour, values: [number|null] }], stacked when several. Infinite values draw a full bar marked inf.
function barChart(title, labels, series, axisTitle, allLabels) {
  var figure = el("figure", "chart");
  figure.appendChild(el("figcaption", null, title));
  var n = labels.length;
  var max = 0;
  for (var i = 0; i < n; i++) {
    var total = 0;
    series.forEach(function (s) { var v = s.values[i]; if (typeof v === "number" && isFinite(v) && v > 0) total += v; });
    if (total > max) max = total;
  }
  var root = svg("svg", { viewBox: "0 0 " + CHART_W + " " + CHART_H, role: "img", class: "chart-svg" });
  root.appendChild(svg("title", {})).textContent = title;
  var plotW = CHART_W - PAD_L - PAD_R, plotH = CHART_H - PAD_T - PAD_B;
  root.appendChild(svg("line", { x1: PAD_L, y1: PAD_T + plotH, x2: PAD_L + plotW, y2: PAD_T + plotH, class: "axis" }));
  root.appendChild(svg("line", { x1: PAD_L, y1: PAD_T, x2: PAD_L, y2: PAD_T + plotH, class: "axis" }));
  var top = svg("text", { x: PAD_L - 4, y: PAD_T + 4, "text-anchor": "end", class: "tick" });
  top.textContent = fmt(max);
  root.appendChild(top);
  var zero = svg("text", { x: PAD_L - 4, y: PAD_T + plotH, "text-anchor": "end", class: "tick" });
  zero.textContent = "0";
  root.appendChild(zero);
  var slot = n > 0 ? plotW / n : plotW;
  var barW = Math.max(1, slot * 0.8);
  // Tick labels: a range's first block (the tooltip has the range), as many as fit without overlapping.
  var short = labels.map(function (l) { return String(l).split("\u2013")[0]; });
  var widest = short.reduce(function (w, l) { return Math.max(w, l.length); }, 1);
  var every = allLabels ? 1 : Math.max(1, Math.ceil(n / Math.max(1, Math.floor(plotW / (widest * 6.5 + 8)))));
  var drawn = 0;
  for (var j = 0; j < n; j++) {
    var x = PAD_L + j * slot + (slot - barW) / 2;
    var y = PAD_T + plotH;
    var tip = [axisTitle + " " + labels[j]];
    series.forEach(function (s) {
      var v = s.values[j];
      if (typeof v !== "number" || v !== v) { if (series.length === 1) tip.push(v === null ? "no value" : "NaN"); return; }
      tip.push((series.length > 1 ? s.name + ": " : "") + fmt(v));
      if (v <= 0) return;
      var h = isFinite(v) ? (max > 0 ? (v / max) * plotH : 0) : plotH;
      if (!isFinite(v)) y = PAD_T + plotH;
      var rect = svg("rect", { x: x, y: y - h, width: barW, height: Math.max(h, 0.5), fill: isFinite(v) ? s.colour : "#7f0000", class: isFinite(v) ? "bar" : "bar bar-inf" });
      y -= h;
      root.appendChild(rect);
      drawn++;
      if (!isFinite(v)) {
        var mark = svg("text", { x: x + barW / 2, y: PAD_T + 10, "text-anchor": "middle", class: "tick inf-mark" });
        mark.textContent = "inf";
        root.appendChild(mark);
      }
    });
    var hit = svg("rect", { x: PAD_L + j * slot, y: PAD_T, width: slot, height: plotH, class: "hit" });
    hit.appendChild(svg("title", {})).textContent = tip.join("\n");
    root.appendChild(hit);
    if (j % every === 0) {
      var lab = svg("text", { x: PAD_L + j * slot + slot / 2, y: PAD_T + plotH + 14, "text-anchor": "middle", class: "tick" });
      lab.textContent = short[j];
      root.appendChild(lab);
    }
  }
  var xt = svg("text", { x: PAD_L + plotW / 2, y: CHART_H - 2, "text-anchor": "middle", class: "axis-title" });
  xt.textContent = axisTitle;
  root.appendChild(xt);
  figure.appendChild(root);
  if (drawn === 0) figure.appendChild(el("p", "empty", "nothing to draw: every bar is zero or has no value"));
  if (series.length > 1) {
    var legend = el("div", "legend");
    series.forEach(function (s) {
      var key = el("span", "key");
      var sw = el("span", "swatch");
      sw.style.background = s.colour;
      key.appendChild(sw);
      key.appendChild(document.createTextNode(s.name));
      legend.appendChild(key);
    });
    figure.appendChild(legend);
  }
  return figure;
}

function severitySeries(counts) {
  return ["errors", "warnings", "notes"].map(function (name, k) {
    return { name: name, colour: SEVERITY_COLOURS[k], values: counts.map(function (c) { return c[k]; }) };
  });
}

function buildCharts(data, app) {
  var c = data.charts;
  var s = section(app, "charts", "Charts");
  if (data.rows.count === 0) {
    s.appendChild(el("p", "empty", "No tensors."));
    return;
  }
  var layers = c.layers;
  var row1 = el("div", "charts");
  row1.id = "severity-charts";
  row1.appendChild(barChart("Tensors with findings, per block", layers, severitySeries(c.severityByLayer), "block"));
  row1.appendChild(barChart("Tensors with findings, per kind of weight", c.groups, severitySeries(c.severityByGroup), "kind", true));
  s.appendChild(row1);
  if (c.metrics.length === 0) return;
  var pick = el("label", "metric-pick", "Metric ");
  var select = el("select");
  select.id = "chart-metric";
  c.metrics.forEach(function (m, i) {
    var o = el("option", null, m.name + " (" + (m.aggregate === "sum" ? "total" : "largest") + ")");
    o.value = String(i);
    select.appendChild(o);
  });
  pick.appendChild(select);
  s.appendChild(pick);
  var row2 = el("div", "charts");
  row2.id = "metric-charts";
  s.appendChild(row2);
  function draw() {
    var m = c.metrics[Number(select.value)];
    var how = m.aggregate === "sum" ? "total " : "largest ";
    var one = function (values) { return [{ name: m.name, colour: "#5e35b1", values: values.map(num) }]; };
    row2.replaceChildren(
      barChart(how + m.name + ", per block", layers, one(m.byLayer), "block"),
      barChart(how + m.name + ", per kind of weight", c.groups, one(m.byGroup), "kind", true)
    );
  }
  select.addEventListener("change", draw);
  draw();
}
`;
