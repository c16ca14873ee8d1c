import assert from "node:assert/strict";
import { it } from "node:test";
import { describeSummary, runFuzz } from "./harness.js";
import { mutateBytes } from "./mutate.js";
import { mutateSafetensors } from "./safetensors-mutate.js";
import { safetensorsSeeds } from "./seeds.js";

it("fuzz: structure-aware mutations of safetensors files are read bit-exactly or refused with one truecast: line", { timeout: 600_000 }, async (t) => {
  const summary = await runFuzz({
    name: "safetensors-struct",
    seeds: safetensorsSeeds(),
    defaultCases: 400,
    cliEvery: 100,
    async mutate(rng, seed) {
      if (rng.chance(0.1)) return mutateBytes(rng, seed.bytes);
      const first = mutateSafetensors(rng, seed.bytes);
      if (rng.chance(0.7)) return first;
      const second = mutateSafetensors(rng, first.bytes);
      return { bytes: second.bytes, what: `${first.what}; ${second.what}` };
    },
  });
  t.diagnostic(describeSummary(summary));
  assert.deepEqual(summary.failures, [], summary.failures.join("\n\n"));
  if (summary.cases >= 100) assert.ok(summary.ok > 0 && (summary.codes.get("ST_HEADER_JSON") ?? 0) > 0 && (summary.codes.get("ST_BAD_ENTRY") ?? 0) > 0, describeSummary(summary));
});
