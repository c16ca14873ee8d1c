import assert from "node:assert/strict";
import { it } from "node:test";
import { describeSummary, runFuzz } from "./harness.js";
import { mutateBytes } from "./mutate.js";
import { torchZipSeeds } from "./seeds.js";
import { mutateTorchZip } from "./zip-mutate.js";

it("fuzz: mutated torch zip archives are read bit-exactly or refused with one truecast: line", { timeout: 600_000 }, async (t) => {
  const summary = await runFuzz({
    name: "torch",
    seeds: torchZipSeeds(),
    defaultCases: 400,
    cliEvery: 100,
    async mutate(rng, seed) {
      // Mostly structure-aware (so the change gets past the zip checks), sometimes blind bytes over the whole archive.
      if (rng.chance(0.15)) return mutateBytes(rng, seed.bytes);
      return mutateTorchZip(rng, seed.bytes);
    },
  });
  t.diagnostic(describeSummary(summary));
  assert.deepEqual(summary.failures, [], summary.failures.join("\n\n"));
  // The mutations must reach past the zip layer: some cases must be refused by the unpickler or the torch reader.
  if (summary.cases >= 100) assert.ok((summary.codes.get("PICKLE_INVALID") ?? 0) + (summary.codes.get("TORCH_INVALID") ?? 0) > 0, describeSummary(summary));
});
