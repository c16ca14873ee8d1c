import assert from "node:assert/strict";
import { test } from "node:test";
import { aggregateOf, chartSeries, MAX_LAYER_BARS } from "../../src/report/chart-data.js";
import type { TensorRow } from "../../src/report/page-data.js";

function row(layer: number | null, group: TensorRow["group"], severity: TensorRow["severity"], metrics: TensorRow["metrics"]): TensorRow {
  return { name: `t${layer}${group}`, layer, group, dtype: "float16", shape: [1], status: "x", severity, metrics };
}

test("counts are summed and maxima maximised per block and per kind; null and NaN are skipped, Infinity kept", () => {
  const s = chartSeries([
    row(1, "mlp", "error", { toInfinity: 3, maxAbsError: 0.5 }),
    row(1, "q", "warning", { toInfinity: 4, maxAbsError: Infinity }),
    row(0, "mlp", "ok", { toInfinity: null, maxAbsError: NaN }),
    row(null, "head", "info", { toInfinity: 1, maxAbsError: 2, extra: 7 }),
  ]);
  assert.deepEqual(s.layers, ["0", "1", "none"]);
  assert.deepEqual(s.groups, ["q", "mlp", "head"]);
  assert.deepEqual(s.severityByLayer, [[0, 0, 0, 1], [1, 1, 0, 2], [0, 0, 1, 1]]);
  assert.deepEqual(s.severityByGroup, [[0, 1, 0, 1], [1, 0, 0, 2], [0, 0, 1, 1]]);
  assert.deepEqual(s.metrics.map((m) => [m.name, m.aggregate]), [["toInfinity", "sum"], ["maxAbsError", "max"], ["extra", "sum"]]);
  assert.deepEqual(s.metrics[0]?.byLayer, [null, 7, 1]);
  assert.deepEqual(s.metrics[1]?.byLayer, [null, "Infinity", 2]);
  assert.deepEqual(s.metrics[1]?.byGroup, ["Infinity", 0.5, 2]);
  assert.deepEqual(s.metrics[2]?.byGroup, [null, null, 7]);
});

test("more blocks than bars: consecutive blocks share a bar, labelled by their range", () => {
  const rows = Array.from({ length: 1000 }, (_, i) => row(i, "mlp", "error", { nan: 1 }));
  const s = chartSeries(rows);
  assert.ok(s.layers.length <= MAX_LAYER_BARS);
  assert.equal(s.layers[0], "0–7");
  assert.equal(s.layers.at(-1), "992–999");
  assert.deepEqual(s.metrics[0]?.byLayer[0], 8);
  assert.equal(s.severityByLayer.reduce((n, c) => n + c[0], 0), 1000);
});

test("aggregates: max for maxima and shares, sum for counts", () => {
  assert.deepEqual(["maxUlp", "zeroShare", "subnormalShare", "elementsChanged", "toInfinity", "nan"].map(aggregateOf), ["max", "max", "max", "sum", "sum", "sum"]);
});
