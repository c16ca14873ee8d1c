/**
 * What the fuzzer asserts of every input. In process: opening and reading every tensor either succeeds with
 * consistent byte lengths or throws a TruecastError with a known code (anything else is a bug). In a child process
 * (the real CLI under a 256 MB heap): exit 0 or 1, one `truecast:` line on failure, nothing left at <out>, no hang,
 * peak RSS under the target, and an export whose tensors are bit-identical to what was read.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isTruecastError } from "../../src/errors.js";
import { byteLengthOf } from "../../src/dtype/table.js";
import { openSource } from "../../src/sources/open.js";
import { repoRoot } from "../helpers.js";

export type Outcome =
  | { readonly kind: "ok"; readonly digests: ReadonlyMap<string, string> }
  | { readonly kind: "refused"; readonly code: string; readonly message: string }
  | { readonly kind: "bug"; readonly message: string };

/** Codes that only a truecast bug raises: a fuzzed file must never cause them. */
const BUG_CODES = new Set(["INTERNAL"]);

/** Open `path`, read every tensor in full, close; classify what happened. */
export async function checkInProcess(path: string): Promise<Outcome> {
  try {
    const model = await openSource(path);
    try {
      const digests = new Map<string, string>();
      for (const t of model.tensors) {
        const numel = t.shape.reduce((n, d) => n * BigInt(d), 1n);
        const want = byteLengthOf(t.dtype, numel);
        if (want === null || BigInt(t.byteLength) !== want) {
          return { kind: "bug", message: `${t.name}: byteLength ${t.byteLength} but ${t.dtype}${JSON.stringify(t.shape)} needs ${want}` };
        }
        const h = createHash("sha256");
        let got = 0;
        for await (const c of t.chunks(1 << 20)) {
          got += c.byteLength;
          h.update(c);
        }
        if (got !== t.byteLength) return { kind: "bug", message: `${t.name}: read ${got} bytes, byteLength says ${t.byteLength}` };
        digests.set(t.name, h.digest("hex"));
      }
      return { kind: "ok", digests };
    } finally {
      await model.close();
    }
  } catch (e) {
    if (isTruecastError(e) && !BUG_CODES.has(e.code)) return { kind: "refused", code: e.code, message: e.message };
    const err = e as Error;
    return { kind: "bug", message: `${err?.name ?? typeof e}: ${err?.message ?? String(e)}\n${err?.stack ?? ""}` };
  }
}

/** Heap given to the CLI child, and the peak RSS it must stay under (small inputs; node itself takes ~60 MB). */
export const CHILD_HEAP_MB = 256;
export const RSS_TARGET_MB = 512;
const CHILD_TIMEOUT_MS = 120_000;

interface ChildRun {
  readonly status: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly rssMb: number | null;
}

function runChild(args: string[], rssFile: string): ChildRun {
  const wrapper = join(repoRoot(), "dist", "test", "fuzz", "cli-rss.js");
  rmSync(rssFile, { force: true });
  const r = spawnSync(process.execPath, [`--max-old-space-size=${CHILD_HEAP_MB}`, wrapper, ...args], {
    encoding: "utf8",
    timeout: CHILD_TIMEOUT_MS,
    killSignal: "SIGKILL",
    maxBuffer: 64 << 20,
    env: { ...process.env, TRUECAST_FUZZ_CHILD: "1", TRUECAST_FUZZ_RSS_FILE: rssFile, NO_COLOR: "1" },
  });
  const rssMb = existsSync(rssFile) ? Number(readFileSync(rssFile, "utf8")) / 1024 : null;
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? "", stderr: r.stderr ?? "", rssMb };
}

/** What the child did wrong, or null. `failed` says whether the in-process check refused the input. */
function childProblems(what: string, r: ChildRun, expectFailure: boolean | null): string[] {
  const p: string[] = [];
  if (r.signal !== null) p.push(`${what}: killed by ${r.signal}${r.signal === "SIGKILL" ? " (timeout: a hang?)" : ""}`);
  else if (r.status !== 0 && r.status !== 1) p.push(`${what}: exit ${r.status}; stderr ${JSON.stringify(r.stderr.slice(-500))}`);
  if (r.rssMb === null && r.signal === null) p.push(`${what}: no RSS reported (crashed before exit?)`);
  else if (r.rssMb !== null && r.rssMb > RSS_TARGET_MB) p.push(`${what}: peak RSS ${r.rssMb.toFixed(0)} MB > ${RSS_TARGET_MB} MB`);
  if (r.status === 1) {
    const lines = r.stderr.split("\n").filter((l) => l.length > 0);
    if (lines.length !== 1 || !/^truecast: /.test(lines[0] ?? "") || /^truecast: unexpected error/.test(lines[0] ?? "")) {
      p.push(`${what}: failure must print one truecast: line, got ${JSON.stringify(r.stderr.slice(0, 1000))}`);
    }
  }
  if (expectFailure === true && r.status === 0) p.push(`${what}: exit 0 but the in-process read refused the input`);
  if (expectFailure === false && r.status === 1) p.push(`${what}: refused (${r.stderr.trim()}) but the in-process read succeeded`);
  return p;
}

/**
 * Run `inspect` and `export` on `path` in child processes and return every broken promise (empty when all held).
 * On a successful export, the written tensors must equal `inProcess`'s digests bit for bit.
 */
export async function checkCli(path: string, workDir: string, inProcess: Outcome): Promise<string[]> {
  const rss = join(workDir, "rss");
  const out = join(workDir, "out");
  rmSync(out, { recursive: true, force: true });
  const refused = inProcess.kind === "refused" ? true : inProcess.kind === "ok" ? false : null;
  const problems = childProblems("inspect", runChild(["inspect", path], rss), refused);
  const ex = runChild(["export", path, out, "--quiet"], rss);
  problems.push(...childProblems("export", ex, refused === true ? true : null));
  if (ex.status !== 0 && existsSync(out)) problems.push(`export: failed but left ${out} behind`);
  if (ex.status === 0 && inProcess.kind === "ok") {
    const written = await checkInProcess(out);
    if (written.kind !== "ok") problems.push(`export: the written folder does not read back: ${written.kind === "bug" ? written.message : written.code}`);
    else {
      for (const [name, digest] of written.digests) {
        const want = inProcess.digests.get(name);
        if (want === undefined) problems.push(`export: wrote ${name}, which the source does not hold`);
        else if (want !== digest) problems.push(`export: ${name} differs from the source's bytes`);
      }
      if (written.digests.size === 0 && inProcess.digests.size > 0) problems.push("export: wrote no tensors");
    }
  }
  rmSync(out, { recursive: true, force: true });
  return problems;
}
