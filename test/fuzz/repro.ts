/**
 * Re-run the fuzzer's checks on one kept input: `node dist/test/fuzz/repro.js FILE`. Prints the in-process outcome
 * and every broken promise of the CLI check; exits 1 when something broke. Does nothing without an argument
 * (node --test may load this file as a test).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkCli, checkInProcess } from "./oracle.js";

const file = process.argv[2];
if (file !== undefined && process.env.TRUECAST_FUZZ_CHILD !== "1") {
  const work = mkdtempSync(join(tmpdir(), "truecast-fuzz-repro-"));
  try {
    const outcome = await checkInProcess(file);
    process.stdout.write(`in process: ${outcome.kind === "ok" ? `ok, ${outcome.digests.size} tensors` : outcome.kind === "refused" ? `refused ${outcome.code}: ${outcome.message}` : `BUG ${outcome.message}`}\n`);
    const problems = await checkCli(file, work, outcome);
    process.stdout.write(problems.length === 0 ? "cli: all checks held\n" : `cli:\n  ${problems.join("\n  ")}\n`);
    process.exitCode = outcome.kind === "bug" || problems.length > 0 ? 1 : 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
