/**
 * Seeded fuzzing of the safetensors reader: valid files mutated (bit flips, truncation, header edits) must each
 * give either a TruecastError with a stable safetensors code or a header that still describes the file exactly;
 * never another exception, a crash or a hang. Runs for TRUECAST_FUZZ_SECONDS (default 20) in-process, then a
 * few mutants through the CLI, which must exit 0, or 1 with exactly one `truecast:` line.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { TruecastError } from "../../src/errors.js";
import { repoRoot, tempDir } from "../helpers.js";
import { parseBytes, stFile } from "../formats/safetensors/build.js";
import { uniform } from "./mutate.js";

const SECONDS = Number(process.env.TRUECAST_FUZZ_SECONDS ?? "20");
const SEED = Number(process.env.TRUECAST_FUZZ_SEED ?? "20261202");
const CODES = new Set([
  "ST_TRUNCATED", "ST_HEADER_TOO_LARGE", "ST_HEADER_UTF8", "ST_HEADER_JSON", "ST_DUPLICATE_KEY", "ST_BAD_ENTRY",
  "ST_UNKNOWN_DTYPE", "ST_METADATA", "ST_SHAPE_OVERFLOW", "ST_BYTE_LENGTH", "ST_NOT_CONTIGUOUS", "ST_FILE_SIZE",
]);

/** A seeded generator of uniform draws in [0, 1). */
const random = uniform;

/** Valid files to start from: several dtypes, a scalar, a zero-size tensor, metadata. */
function seeds(): Uint8Array[] {
  const t = (dtype: string, shape: number[], b: number, e: number) => ({ dtype, shape, data_offsets: [b, e] });
  return [
    stFile({ header: { __metadata__: { format: "pt" }, "model.w": t("BF16", [2, 3], 0, 12), b: t("F32", [], 12, 16) }, data: 16 }),
    stFile({ header: { a: t("I64", [1], 0, 8), e: t("U8", [0, 4], 8, 8), z: t("F16", [4], 8, 16), q: t("F4", [2, 2], 16, 18) }, data: 18 }),
    stFile({ header: '{"lm_head.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}       ', data: 16 }),
  ];
}

const HEADER_TOKENS = ['"', "{", "}", "[", "]", ",", ":", "0", "1", "9", "-", ".", "e", "\\", "\\u0000", "null", "18446744073709551616", '"F32"', '"__metadata__"'];

/** One mutation of `bytes`. */
function mutate(bytes: Uint8Array, next: () => number): Uint8Array {
  const at = (n: number) => Math.floor(next() * n);
  const out = Uint8Array.from(bytes);
  // The header length to edit within: the prefix's, clamped to the bytes there are.
  const n = out.length < 8 ? 0 : Math.min(Number(new DataView(out.buffer).getBigUint64(0, true)), out.length - 8);
  const kind = out.length < 8 ? at(2) : n === 0 ? ([0, 1, 3, 4][at(4)] as number) : at(5);
  switch (kind) {
    case 0: // flip bits anywhere
      for (let k = 1 + at(3); k > 0; k--) {
        const i = at(out.length);
        out[i] = (out[i] ?? 0) ^ (1 << at(8));
      }
      return out;
    case 1: // truncate
      return out.subarray(0, at(out.length));
    case 2: { // replace a header byte range with a JSON-ish token
      const i = 8 + at(n);
      const token = new TextEncoder().encode(HEADER_TOKENS[at(HEADER_TOKENS.length)] ?? "");
      const merged = new Uint8Array(out.length - 1 + token.length);
      merged.set(out.subarray(0, i));
      merged.set(token, i);
      merged.set(out.subarray(i + 1), i + token.length);
      new DataView(merged.buffer).setBigUint64(0, BigInt(n - 1 + token.length), true);
      return merged;
    }
    case 3: // a wrong length prefix
      new DataView(out.buffer).setBigUint64(0, BigInt(Math.max(0, n + at(17) - 8)) * (next() < 0.05 ? 1n << 40n : 1n), true);
      return out;
    default: { // extra or missing data bytes
      const delta = at(9) - 4;
      if (delta < 0) return out.subarray(0, Math.max(0, out.length + delta));
      const grown = new Uint8Array(out.length + delta);
      grown.set(out);
      return grown;
    }
  }
}

/** Parses a mutant: a stable-code error, or a header that covers the file exactly. Returns the outcome. */
function check(bytes: Uint8Array): string {
  try {
    const h = parseBytes(bytes);
    const end = h.entries.reduce((m, e) => Math.max(m, e.end), 0);
    assert.equal(h.dataStart + end, bytes.length, "an accepted header describes the whole file");
    return "ok";
  } catch (e) {
    if (!(e instanceof TruecastError)) throw new Error(`not a TruecastError: ${String(e)}`, { cause: e });
    assert.ok(CODES.has(e.code), `unstable code ${e.code}`);
    assert.ok(!e.message.includes("\n"), "one line");
    return e.code;
  }
}

test(`mutated safetensors files give a stable error or an exact header (${SECONDS} s, seed ${SEED})`, () => {
  const next = random(SEED);
  const bases = seeds();
  const outcomes = new Map<string, number>();
  const stop = Date.now() + SECONDS * 1000;
  let cases = 0;
  while (Date.now() < stop || cases < 1000) {
    let bytes = bases[Math.floor(next() * bases.length)] as Uint8Array;
    for (let k = 1 + Math.floor(next() * 3); k > 0; k--) bytes = mutate(bytes, next);
    const outcome = check(bytes);
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    cases++;
  }
  // The mutations reach many rules, not one.
  assert.ok(outcomes.size >= 8, JSON.stringify([...outcomes]));
});

test("mutants through the CLI: exit 0, or exit 1 with one truecast: line", async () => {
  const run = promisify(execFile);
  const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
  const { dir, cleanup } = await tempDir();
  const next = random(SEED + 1);
  const bases = seeds();
  try {
    for (let i = 0; i < 6; i++) {
      const file = join(dir, `m${i}.safetensors`);
      await writeFile(file, mutate(bases[i % bases.length] as Uint8Array, next));
      let code = 0;
      let stderr = "";
      try {
        ({ stderr } = await run(process.execPath, ["--max-old-space-size=128", cli, "inspect", file], { timeout: 60_000 }));
      } catch (e) {
        const err = e as { code?: number; stderr?: string; killed?: boolean };
        assert.equal(err.killed, false, "hung");
        code = err.code ?? -1;
        stderr = err.stderr ?? "";
      }
      if (code === 0) assert.equal(stderr, "");
      else {
        assert.equal(code, 1);
        assert.match(stderr, /^truecast: [^\n]*\n$/);
      }
    }
  } finally {
    await cleanup();
  }
});
