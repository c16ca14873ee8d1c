/**
 * The report page's tensor table, as script text inside the page's script (see page-script.ts): every tensor,
 * sortable by any column (numbers numerically, with -inf < finite < inf, then NaN, then empty cells last in either
 * direction) and filterable by name, severity, status and kind. Only the rows in view are in the document (fixed
 * row height, spacer rows above and below), so 100k tensors scroll and sort like 100.
 */
export const TABLE_SCRIPT = String.raw`
var ROW_H = 24, OVERSCAN = 20;

function buildTable(data, app) {
  var R = data.rows, n = R.count;
  var metricCols = R.metricNames.map(function (name, m) { return R.metrics[m].map(num); });
  // Columns: label, cell text, sort key (number, or string), whether numbers sort largest first on the first click.
  var cols = [
    { label: "name", cls: "c-name", text: function (i) { return R.name[i]; }, key: function (i) { return R.name[i]; }, text_: true },
    { label: "block", cls: "c-num", text: function (i) { return R.layer[i] === null ? "" : String(R.layer[i]); }, key: function (i) { return R.layer[i]; } },
    { label: "kind", text: function (i) { return R.groups[R.group[i]]; }, key: function (i) { return R.groups[R.group[i]]; }, text_: true },
    { label: "dtype", cls: "c-dtype", text: function (i) { return R.dtypes[R.dtype[i]]; }, key: function (i) { return R.dtypes[R.dtype[i]]; }, text_: true },
    { label: "shape", text: function (i) { return R.shape[i]; }, key: function (i) { return R.numel[i]; } },
    { label: "status", text: function (i) { return R.statuses[R.status[i]]; }, key: function (i) { return R.statuses[R.status[i]]; }, text_: true },
    { label: "severity", text: function (i) { return SEVERITY_WORDS[R.severity[i]]; }, key: function (i) { return R.severity[i]; }, desc: true },
  ];
  R.metricNames.forEach(function (name, m) {
    var col = metricCols[m];
    cols.push({ label: name, cls: "c-num", text: function (i) { return col[i] === null ? "" : fmt(col[i]); }, key: function (i) { return col[i]; }, desc: true });
  });

  var s = section(app, "tensors", "Tensors (" + n.toLocaleString("en-US") + ")");
  var bar = el("div", "filters");
  var nameInput = el("input");
  nameInput.type = "search";
  nameInput.id = "filter-name";
  nameInput.placeholder = "filter by name";
  nameInput.setAttribute("aria-label", "filter tensors by name");
  bar.appendChild(nameInput);
  function choice(id, label, options) {
    var l = el("label", null, label + " ");
    var sel = el("select");
    sel.id = id;
    options.forEach(function (o) { var e = el("option", null, o[1]); e.value = o[0]; sel.appendChild(e); });
    l.appendChild(sel);
    bar.appendChild(l);
    return sel;
  }
  var sevSelect = choice("filter-severity", "severity", [["", "all"], ["3", "error"], ["2", "warning"], ["1", "info"], ["0", "ok"], ["2+", "warning or error"]]);
  var statusSelect = choice("filter-status", "status", [["", "all"]].concat(R.statuses.map(function (w, k) { return [String(k), w]; })));
  var groupSelect = choice("filter-group", "kind", [["", "all"]].concat(R.groups.map(function (w, k) { return [String(k), w]; })));
  var count = el("span", "count");
  count.id = "row-count";
  count.setAttribute("aria-live", "polite");
  bar.appendChild(count);
  s.appendChild(bar);

  var scroller = el("div", "table-scroll");
  scroller.id = "table-scroll";
  var table = el("table", "tensor-table");
  table.id = "tensor-table";
  table.style.width = (30 + 12 + (cols.length - 2) * 7.5) + "em";
  var thead = el("thead");
  var hr = el("tr");
  var ths = cols.map(function (c, k) {
    var th = el("th", c.cls || null);
    var b = el("button", "sort", c.label);
    b.type = "button";
    b.title = "sort by " + c.label;
    b.appendChild(el("span", "arrow", ""));
    b.addEventListener("click", function () { sortBy(k); });
    th.appendChild(b);
    th.setAttribute("aria-sort", "none");
    hr.appendChild(th);
    return th;
  });
  thead.appendChild(hr);
  table.appendChild(thead);
  var tbody = el("tbody");
  table.appendChild(tbody);
  scroller.appendChild(table);
  s.appendChild(scroller);

  var order = new Array(n);
  for (var i = 0; i < n; i++) order[i] = i;
  var shown = order;
  var sortCol = -1, sortDesc = false;
  var lowered = null;

  // Numbers: -inf < finite < inf, then NaN, then null; strings by code unit. Empty (null, NaN) last either way.
  function rankOf(v) { return v === null || v === undefined ? 2 : v !== v ? 1 : 0; }
  function sortBy(k) {
    if (sortCol === k) sortDesc = !sortDesc;
    else { sortCol = k; sortDesc = !!cols[k].desc; }
    var key = cols[k].key, dir = sortDesc ? -1 : 1;
    var keys = new Array(n);
    for (var i = 0; i < n; i++) keys[i] = key(i);
    order.sort(function (a, b) {
      var x = keys[a], y = keys[b], rx = rankOf(x), ry = rankOf(y);
      if (rx !== ry) return rx - ry;
      if (rx === 0 && x !== y) return (x < y ? -1 : 1) * dir;
      return a - b;
    });
    ths.forEach(function (th, j) {
      th.setAttribute("aria-sort", j === k ? (sortDesc ? "descending" : "ascending") : "none");
      th.querySelector(".arrow").textContent = j === k ? (sortDesc ? " \u25BC" : " \u25B2") : "";
    });
    applyFilters();
  }

  function applyFilters() {
    var text = nameInput.value.trim().toLowerCase();
    var sev = sevSelect.value, st = statusSelect.value, gr = groupSelect.value;
    if (text && lowered === null) lowered = R.name.map(function (x) { return x.toLowerCase(); });
    if (!text && !sev && !st && !gr) shown = order;
    else {
      var minSev = sev === "2+" ? 2 : -1, oneSev = sev && sev !== "2+" ? Number(sev) : -1;
      var stN = st ? Number(st) : -1, grN = gr ? Number(gr) : -1;
      shown = order.filter(function (i) {
        if (oneSev >= 0 && R.severity[i] !== oneSev) return false;
        if (minSev >= 0 && R.severity[i] < minSev) return false;
        if (stN >= 0 && R.status[i] !== stN) return false;
        if (grN >= 0 && R.group[i] !== grN) return false;
        return !text || lowered[i].indexOf(text) >= 0;
      });
    }
    count.textContent = "showing " + shown.length.toLocaleString("en-US") + " of " + n.toLocaleString("en-US");
    scroller.scrollTop = 0;
    render();
  }

  function spacer(h) {
    var tr = el("tr", "spacer");
    var td = el("td");
    td.colSpan = cols.length;
    td.style.height = h + "px";
    tr.appendChild(td);
    return tr;
  }
  function render() {
    var view = scroller.clientHeight || 600;
    var first = Math.max(0, Math.floor(scroller.scrollTop / ROW_H) - OVERSCAN);
    var last = Math.min(shown.length, Math.ceil((scroller.scrollTop + view) / ROW_H) + OVERSCAN);
    var rows = [spacer(first * ROW_H)];
    for (var r = first; r < last; r++) {
      var i = shown[r];
      var tr = el("tr", "sev-" + SEVERITY_WORDS[R.severity[i]]);
      for (var k = 0; k < cols.length; k++) {
        var td = el("td", cols[k].cls || null, cols[k].text(i));
        if (k === 0) td.title = R.name[i];
        tr.appendChild(td);
      }
      rows.push(tr);
    }
    rows.push(spacer((shown.length - last) * ROW_H));
    if (shown.length === 0) {
      var none = el("tr", "no-rows");
      var td0 = el("td", null, "no tensor matches the filters");
      td0.colSpan = cols.length;
      none.appendChild(td0);
      rows.push(none);
    }
    tbody.replaceChildren.apply(tbody, rows);
  }
  var pending = false;
  scroller.addEventListener("scroll", function () {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; render(); });
  });
  var typing = 0;
  nameInput.addEventListener("input", function () { clearTimeout(typing); typing = setTimeout(applyFilters, n > 20000 ? 150 : 0); });
  [sevSelect, statusSelect, groupSelect].forEach(function (x) { x.addEventListener("change", applyFilters); });
  applyFilters();
  return {
    showName: function (name) {
      nameInput.value = name;
      applyFilters();
      s.scrollIntoView();
    },
  };
}
`;
