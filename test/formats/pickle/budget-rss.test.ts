/**
 * Peak memory of `truecast inspect` on large pickles and zip directories, measured in a child process with a capped
 * heap (the child reports its own peak RSS): a real 100,000-tensor state dict written by torch loads, hostile pickles
 * of 8 and 32 MB are refused (or read) within the bound, and a zip of 200k records is refused in one line.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { open, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { OP } from "../../../src/formats/pickle/opcodes.js";
import { cliChild } from "../../support/cli-child.js";
import { repoRoot, tempDir } from "../../helpers.js";
import { manyRecordsZip, memoFlood, opcodeFlood, retainedFlood, setBomb, tensorFlood } from "./hostile.js";

const PYTHON = process.env["TRUECAST_TORCH_PYTHON"] ?? "/usr/bin/python3";
const HAS_TORCH = spawnSync(PYTHON, ["-c", "import torch"]).status === 0;
const MB = 1024 * 1024;

/** Heap of the child: the old reader needed over 200 MB of heap for the real 100k-tensor state dict. */
const HEAP_MB = 128;
/**
 * Peak RSS no pickle may pass, hostile or real (node itself: ~64 MB). Measured with this code: 74 to 160 MB for the
 * hostile cases below; the old reader reached 300 MB to several GB, or ran out of heap.
 */
const RSS_LIMIT_MB = 200;
/** The real 100k-tensor state dict (15 MB of data.pkl): ~190 MB with this code, 354 MB with the old one. */
const REAL_RSS_LIMIT_MB = 200;
/** A zip of 200k records: refused at ~80 MB; the old reader accepted it and took 191 MB. */
const ZIP_RSS_LIMIT_MB = 100;

const BUDGET = /^truecast: [\w.-]+: the pickle (\(\d+ bytes\) )?(builds more than \d+ MB of values|holds more than \d+ values on its stack at once|memoizes more than \d+ values)/;

async function inspect(path: string, dir: string): Promise<{ code: number | null; stdout: string; stderr: string; rssMb: number }> {
  const r = await cliChild(["inspect", path], { cwd: dir, env: { NO_COLOR: "1" }, nodeFlags: [`--max-old-space-size=${HEAP_MB}`], killAfterMs: 400_000 });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, rssMb: (r.maxRssBytes ?? Number.POSITIVE_INFINITY) / MB };
}

describe("peak memory of large pickles and zip directories", () => {
  let dir = "";
  let cleanup = async (): Promise<void> => {};
  before(async () => {
    ({ dir, cleanup } = await tempDir());
  });
  after(() => cleanup());

  const hostile: Array<[string, (n: number) => Uint8Array]> = [
    ["empty dicts kept in a list", retainedFlood],
    ["a flood of EMPTY_DICT", (n) => opcodeFlood(OP.EMPTY_DICT, n)],
    ["one value memoized at n/5 indices", (n) => memoFlood(Math.floor(n / 5))],
    ["tensors kept in a list, 32 bytes each", tensorFlood],
    ["builtins.set over one 170k list, 13 bytes a call", (n) => setBomb(Math.floor(n / 13))],
  ];
  for (const size of [8, 32]) {
    for (const [what, make] of hostile) {
      it(`${size} MB of ${what}: refused in one line, or read, under ${RSS_LIMIT_MB} MB of RSS`, async () => {
        const path = join(dir, `hostile-${size}.pt`);
        await writeFile(path, make(size * MB));
        const r = await inspect(path, dir);
        assert.ok(r.code === 0 || (r.code === 1 && BUDGET.test(r.stderr) && r.stderr.trim().split("\n").length === 1), `exit ${r.code}: ${r.stderr.slice(0, 500)}`);
        assert.ok(r.rssMb < RSS_LIMIT_MB, `peak RSS ${r.rssMb.toFixed(0)} MB, over ${RSS_LIMIT_MB} MB`);
      });
    }
  }

  it(`refuses a zip of 200k records beside a small data.pkl in one line, under ${ZIP_RSS_LIMIT_MB} MB of RSS`, async () => {
    const path = join(dir, "records.pt");
    await writeFile(path, manyRecordsZip({ extra: 199_990, sharedHeader: false }));
    const r = await inspect(path, dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^truecast: records\.pt: it holds 199993 records, more than the \d+ a checkpoint whose data\.pkl has \d+ bytes can use \(one per storage/);
    assert.equal(r.stderr.trim().split("\n").length, 1);
    assert.ok(r.rssMb < ZIP_RSS_LIMIT_MB, `peak RSS ${r.rssMb.toFixed(0)} MB, over ${ZIP_RSS_LIMIT_MB} MB`);
  });

  it("refuses an end record claiming 5 million records at once, reading nothing of them", async () => {
    // A sparse file: the ZIP64 end records claim 5M records in a central directory of 315 MB that is never read.
    const count = 5_000_000n;
    const cdOffset = count * 47n;
    const cdSize = count * 63n;
    const tail = Buffer.alloc(56 + 20 + 22);
    tail.writeUInt32LE(0x06064b50, 0); tail.writeBigUInt64LE(44n, 4); tail.writeUInt16LE(45, 12); tail.writeUInt16LE(45, 14);
    tail.writeBigUInt64LE(count, 24); tail.writeBigUInt64LE(count, 32); tail.writeBigUInt64LE(cdSize, 40); tail.writeBigUInt64LE(cdOffset, 48);
    tail.writeUInt32LE(0x07064b50, 56); tail.writeBigUInt64LE(cdOffset + cdSize, 64); tail.writeUInt32LE(1, 72);
    tail.writeUInt32LE(0x06054b50, 76); tail.writeUInt16LE(0xffff, 84); tail.writeUInt16LE(0xffff, 86);
    tail.writeUInt32LE(0xffffffff, 88); tail.writeUInt32LE(0xffffffff, 92);
    const path = join(dir, "five-million.pt");
    const h = await open(path, "w");
    try {
      await h.write(Buffer.from([0x50, 0x4b, 3, 4]), 0, 4, 0);
      await h.write(tail, 0, tail.length, Number(cdOffset + cdSize));
    } finally {
      await h.close();
    }
    const r = await inspect(path, dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^truecast: five-million\.pt: its central directory claims 315000000 bytes, more than the \d+ this reader accepts/);
    assert.equal(r.stderr.trim().split("\n").length, 1);
    assert.ok(r.rssMb < ZIP_RSS_LIMIT_MB, `peak RSS ${r.rssMb.toFixed(0)} MB`);
  });

  it(`reads a real 100,000-tensor state dict written by torch under ${REAL_RSS_LIMIT_MB} MB of RSS`, { skip: HAS_TORCH ? false : `${PYTHON} cannot import torch` }, async () => {
    const py = spawnSync(PYTHON, [join(repoRoot(), "test", "formats", "pickle", "many_tensors.py"), join(dir, "many.pt")], { encoding: "utf8" });
    assert.equal(py.status, 0, py.stderr);
    const r = await inspect(join(dir, "many.pt"), dir);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.rssMb < REAL_RSS_LIMIT_MB, `peak RSS ${r.rssMb.toFixed(0)} MB, over ${REAL_RSS_LIMIT_MB} MB`);
    assert.match(r.stdout, /tensors: 100001 · parameters: 300,006/);
    assert.match(r.stdout, /model\.layers\.0\.self_attn\.q_proj\.weight {2}BF16\[2, 2\]/);
  });
});
