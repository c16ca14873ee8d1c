import assert from "node:assert/strict";
import { it } from "node:test";
import { buildZip } from "../formats/torch/zip-builder.js";
import { describeSummary, runFuzz } from "./harness.js";
import { concat, mutateBytes, type Rng } from "./mutate.js";
import { mutatePickle, stripFrames, walkPickle } from "./pickle-mutate.js";
import { legacySeeds, torchZipSeeds } from "./seeds.js";
import { readRecords } from "./zip-mutate.js";

/** Several opcode-level mutations in a row (falls back to a byte mutation where no opcode can be walked). */
function mutateRounds(rng: Rng, pickle: Uint8Array, what: string[]): Uint8Array {
  let data = pickle;
  for (let k = 1 + rng.int(4); k > 0; k--) {
    const m = mutatePickle(rng, data) ?? mutateBytes(rng, data);
    data = m.bytes;
    what.push(m.what);
  }
  return data;
}

/** A legacy file is pickles one after another (magic, protocol, sys info, the state dict, storage keys), then storages. */
function mutateLegacy(rng: Rng, file: Uint8Array): { bytes: Uint8Array; what: string } {
  const starts: number[] = [];
  let p = 0;
  for (let k = 0; k < 5 && p < file.length; k++) {
    starts.push(p);
    const { ops, end } = walkPickle(file, p);
    if (ops.length === 0 || ops[ops.length - 1]?.op !== 0x2e) break;
    p = end;
  }
  const at = rng.pick(starts);
  const what: string[] = [`pickle at ${at}`];
  const mutated = mutateRounds(rng, file.subarray(at), what);
  return { bytes: concat([file.subarray(0, at), mutated]), what: what.join("; ") };
}

it("fuzz: opcode-mutated pickles (legacy files, data.pkl in zips) are refused with one truecast: line or read consistently", { timeout: 600_000 }, async (t) => {
  const zips = torchZipSeeds();
  const zipRecords = new Map(await Promise.all(zips.map(async (s) => [s.name, await readRecords(s.bytes)] as const)));
  const summary = await runFuzz({
    name: "pickle",
    seeds: [...legacySeeds(), ...zips],
    defaultCases: 500,
    cliEvery: 100,
    async mutate(rng, seed) {
      const records = zipRecords.get(seed.name);
      if (records === undefined) return mutateLegacy(rng, seed.bytes);
      // Only data.pkl changes; the archive is rebuilt with valid headers so that every mutation reaches the unpickler.
      const what: string[] = [];
      const rebuilt = records.map((r) =>
        r.name.endsWith("data.pkl") ? { name: r.name, data: mutateRounds(rng, rng.chance(0.8) ? stripFrames(r.data) : r.data, what) } : r,
      );
      return { bytes: buildZip(rebuilt, { align: 64 }), what: `data.pkl: ${what.join("; ")}` };
    },
  });
  t.diagnostic(describeSummary(summary));
  assert.deepEqual(summary.failures, [], summary.failures.join("\n\n"));
  if (summary.cases >= 100) assert.ok((summary.codes.get("PICKLE_INVALID") ?? 0) > 0 && (summary.codes.get("PICKLE_FORBIDDEN") ?? 0) > 0, describeSummary(summary));
});
