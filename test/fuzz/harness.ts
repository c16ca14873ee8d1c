/**
 * The fuzz loop: for case i of a run with seed S, pick a seed input and mutate it with the PRNG of (S, i), write it to
 * a file, check it in process, and every `cliEvery` cases (and for every in-process bug) check the real CLI too.
 *
 * Environment: TRUECAST_FUZZ_SEED (default {@link DEFAULT_SEED}), TRUECAST_FUZZ_CASES (a fixed number of cases),
 * TRUECAST_FUZZ_SECONDS (run cases until this many seconds have passed, instead of the fixed count),
 * TRUECAST_FUZZ_CASE (run only that case: reproduces a reported failure), TRUECAST_FUZZ_CLI_EVERY (run the CLI
 * check every this many cases and every this many successes, instead of the target's `cliEvery`).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { caseRng, type Rng } from "./mutate.js";
import { checkCli, checkInProcess } from "./oracle.js";

export const DEFAULT_SEED = 0x7c0ffee;

export interface SeedInput {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** File extension the mutated input is written with (".pt", ".safetensors"): it picks the reader. */
  readonly ext: string;
}

export interface FuzzTarget {
  readonly name: string;
  readonly seeds: readonly SeedInput[];
  /** One mutated input (it may apply several mutations). */
  mutate(rng: Rng, seed: SeedInput): Promise<{ bytes: Uint8Array; what: string }>;
  /** Cases run when no environment variable says otherwise (sized so that the target takes ~15 s on a slow machine). */
  readonly defaultCases: number;
  /** Every this many cases, also run the CLI in a child process. */
  readonly cliEvery: number;
}

export interface FuzzSummary {
  readonly seed: number;
  readonly cases: number;
  readonly cliRuns: number;
  readonly ok: number;
  /** Refusals by error code. */
  readonly codes: ReadonlyMap<string, number>;
  /** One paragraph per failing case: seed, case, mutation, where its input was kept, what broke. */
  readonly failures: readonly string[];
}

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${name}=${v} is not a number`);
  return n;
}

/** Run `target` and summarize; failing inputs are kept in a temporary folder named in each failure. */
export async function runFuzz(target: FuzzTarget): Promise<FuzzSummary> {
  const seed = (envInt("TRUECAST_FUZZ_SEED") ?? DEFAULT_SEED) >>> 0;
  const seconds = envInt("TRUECAST_FUZZ_SECONDS");
  const only = envInt("TRUECAST_FUZZ_CASE");
  const cases = envInt("TRUECAST_FUZZ_CASES") ?? target.defaultCases;
  const cliEvery = Math.max(1, envInt("TRUECAST_FUZZ_CLI_EVERY") ?? target.cliEvery);
  const work = mkdtempSync(join(tmpdir(), `truecast-fuzz-${target.name}-`));
  const keep = mkdtempSync(join(tmpdir(), `truecast-fuzz-failures-${target.name}-`));
  const deadline = seconds === undefined ? Infinity : Date.now() + seconds * 1000;
  const codes = new Map<string, number>();
  const failures: string[] = [];
  let ok = 0;
  let cliRuns = 0;
  let i = only ?? 0;
  try {
    for (; only !== undefined ? i === only : seconds !== undefined ? Date.now() < deadline : i < cases; i++) {
      const rng = caseRng(seed, i);
      const input = rng.pick(target.seeds);
      const m = await target.mutate(rng, input);
      const file = join(work, `case${input.ext}`);
      writeFileSync(file, m.bytes);
      const outcome = await checkInProcess(file);
      if (outcome.kind === "ok") ok++;
      else if (outcome.kind === "refused") codes.set(outcome.code, (codes.get(outcome.code) ?? 0) + 1);
      // Successes are rarer and are where export must be bit-identical: they get CLI checks of their own.
      const cliNow = i % cliEvery === 0 || (outcome.kind === "ok" && ok % Math.max(1, Math.floor(cliEvery / 4)) === 1);
      const problems = outcome.kind === "bug" ? [`in process: ${outcome.message}`] : [];
      if (outcome.kind === "bug" || cliNow || only !== undefined) {
        cliRuns++;
        problems.push(...(await checkCli(file, work, outcome)));
      }
      if (problems.length > 0) {
        const kept = join(keep, `seed${seed}-case${i}-${input.name}${input.ext}`);
        writeFileSync(kept, m.bytes);
        failures.push(
          `${target.name} seed=${seed} case=${i} from ${input.name} (${m.what})\n  input kept at ${kept}\n` +
            `  reproduce: TRUECAST_FUZZ_SEED=${seed} TRUECAST_FUZZ_CASE=${i} node --test dist/test/fuzz/${target.name}-fuzz.test.js` +
            ` (or node dist/test/fuzz/repro.js ${kept})\n  ${problems.join("\n  ")}`,
        );
        if (failures.length >= 10) break;
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
    if (failures.length === 0) rmSync(keep, { recursive: true, force: true });
  }
  const ran = only !== undefined ? 1 : i - (only ?? 0);
  return { seed, cases: ran, cliRuns, ok, codes, failures };
}

/** One line for the test's diagnostics: how many cases, CLI runs, successes and refusals by code. */
export function describeSummary(s: FuzzSummary): string {
  const codes = [...s.codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c}×${n}`).join(" ");
  return `seed=${s.seed} cases=${s.cases} cli=${s.cliRuns} ok=${s.ok} refused: ${codes}`;
}
