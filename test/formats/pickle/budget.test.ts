import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { TruecastError } from "../../../src/errors.js";
import { budgetLimits } from "../../../src/formats/pickle/budget.js";
import { OP } from "../../../src/formats/pickle/opcodes.js";
import { unpickle } from "../../../src/formats/pickle/unpickler.js";
import { torchHooks } from "../../../src/formats/torch/rebuild.js";
import { readZipDirectory } from "../../../src/formats/zip.js";
import { memoryAccess } from "../torch/zip-builder.js";
import { cliChild } from "../../support/cli-child.js";
import { repoRoot, tempDir } from "../../helpers.js";
import { bytes, pickle } from "./builder.js";
import { encodeBomb, manyRecordsZip, memoFlood, opcodeFlood, orderedDictBomb, retainedFlood, setBomb, sizeBomb, tensorShapeBomb } from "./hostile.js";

/**
 * Peak RSS of the whole CLI (node itself: ~64 MB) that no hostile pickle of up to 2 MB, nor the 10 MB opcode flood,
 * may pass. Measured with the limits of budget.ts: 65 to 125 MB; with the old ones (32 bytes a byte, at least
 * 64 MB; a 500k stack): 118 to 207 MB.
 */
const RSS_LIMIT_MB = 150;

/** `truecast inspect` in a child process whose heap is capped at 256 MB (the old reader needed 1.3 to 4.2 GB). */
function inspectBounded(path: string): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, ["--max-old-space-size=256", join(repoRoot(), "dist", "src", "cli", "main.js"), "inspect", path], {
    encoding: "utf8",
    timeout: 300_000,
  });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

/** `truecast inspect` in a child process, unbounded, for its peak RSS. */
async function inspectRss(dir: string, path: string): Promise<{ code: number | null; stderr: string; rssMb: number }> {
  const r = await cliChild(["inspect", path], { cwd: dir, env: { NO_COLOR: "1" }, killAfterMs: 300_000 });
  assert.notEqual(r.maxRssBytes, null, `the child reported its memory: ${r.rawStderr.slice(0, 500)}`);
  return { code: r.code, stderr: r.stderr, rssMb: (r.maxRssBytes ?? 0) / (1024 * 1024) };
}

async function assertRefused(name: string, file: Uint8Array, message: RegExp): Promise<void> {
  const { dir, cleanup } = await tempDir();
  try {
    const path = join(dir, name);
    await writeFile(path, file);
    const measured = await inspectRss(dir, path);
    assert.equal(measured.code, 1, `${name}: refused`);
    assert.ok(measured.rssMb < RSS_LIMIT_MB, `${name}: peak RSS ${measured.rssMb.toFixed(0)} MB, over ${RSS_LIMIT_MB} MB`);
    const r = inspectBounded(path);
    const lines = r.stderr.split("\n").filter((l) => l.length > 0);
    assert.equal(lines.length, 1, `${name}: one line on stderr, got ${JSON.stringify(r.stderr.slice(0, 2000))}`);
    assert.match(lines[0] ?? "", message, name);
    assert.equal(r.status, 1, `${name}: exit status`);
    assert.equal(r.stdout, "");
  } finally {
    await cleanup();
  }
}

const BUDGET = /^truecast: [\w.]+: the pickle (builds more than \d+ MB of values|holds more than \d+ values on its stack at once|memoizes more than \d+ values) \(the limit for a pickle of \d+ bytes\); a state dict never needs that much/;

describe("hostile pickles are refused within a bounded heap (PICKLE_BUDGET)", () => {
  it("refuses builtins.set called 3,000 times on one memoized 170k-item list", async () => {
    await assertRefused("set.pt", setBomb(), BUDGET);
  });
  it("refuses _codecs.encode called 2,000 times on a 1 MB string", async () => {
    await assertRefused("encode.pt", encodeBomb(), BUDGET);
  });
  it("refuses OrderedDict called 3,000 times on 50k pairs", async () => {
    await assertRefused("odict.pt", orderedDictBomb(), BUDGET);
  });
  it("refuses torch.Size called 3,000 times on a 150k-int tuple", async () => {
    await assertRefused("size.pt", sizeBomb(), BUDGET);
  });
  it("refuses _rebuild_tensor_v2 called 3,000 times with one memoized 150k-dim size and stride", async () => {
    await assertRefused("shape.pt", tensorShapeBomb(), BUDGET);
  });
  it("refuses 10 MB of EMPTY_DICT opcodes", async () => {
    await assertRefused("dicts.pt", opcodeFlood(OP.EMPTY_DICT, 10 * 1024 * 1024), BUDGET);
  });
  it("refuses 2 MB of empty dicts appended to one list (all kept alive)", async () => {
    await assertRefused("kept.pt", retainedFlood(2 * 1024 * 1024), BUDGET);
  });
  it("a 2 MB pickle that memoizes one value 400k times, out of order, stays under the RSS limit", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "memo.pt");
      await writeFile(path, memoFlood(400_000));
      const r = await inspectRss(dir, path);
      // Harmless once charged: the budget lets it through (exit 0) or refuses it; either way the memory is bounded.
      assert.ok(r.code === 0 || (r.code === 1 && BUDGET.test(r.stderr.trim())), `memo.pt: ${r.code} ${r.stderr}`);
      assert.ok(r.rssMb < RSS_LIMIT_MB, `memo.pt: peak RSS ${r.rssMb.toFixed(0)} MB, over ${RSS_LIMIT_MB} MB`);
    } finally {
      await cleanup();
    }
  });

  it("refuses with the PICKLE_BUDGET code, naming the file and the limit; open MARKs and the memo are bounded", () => {
    const hooks = torchHooks({ fileName: "x.pkl", locate: () => null });
    const refused = (b: Uint8Array, message: RegExp, limits = budgetLimits(b.length)): void => {
      assert.throws(() => unpickle({ bytes: b, fileName: "x.pkl", hooks, limits }), (e: unknown) => {
        assert.ok(e instanceof TruecastError, String(e));
        assert.equal(e.code, "PICKLE_BUDGET");
        assert.match(e.message, message);
        return true;
      });
    };
    refused(pickle(new Uint8Array(20_000).fill(OP.MARK)), /^x\.pkl: the pickle nests more than 10000 MARKs \(the limit for a pickle of 20003 bytes\)/);
    refused(pickle(new Uint8Array(60_000).fill(OP.NONE)), /^x\.pkl: the pickle holds more than 50000 values on its stack at once/);
    const memo = bytes(OP.PROTO, 2, OP.NONE, ...Array.from({ length: 11 }, (_, i) => [OP.BINPUT, i]), OP.STOP);
    refused(memo, /memoizes more than 10 values/, { ...budgetLimits(memo.length), memoEntries: 10 });
    // Rewriting one memo slot again and again is free.
    const same = bytes(OP.PROTO, 2, OP.NONE, ...Array.from({ length: 50 }, () => [OP.BINPUT, 1]), OP.STOP);
    assert.equal(unpickle({ bytes: same, fileName: "x.pkl", hooks, limits: { ...budgetLimits(same.length), memoEntries: 10 } }), null);
  });
});

describe("zip central directories are bounded by the file and by a fixed count", () => {
  it("refuses 200k records that all share one local header", async () => {
    await assertRefused("shared.pt", manyRecordsZip({ extra: 200_000, sharedHeader: true }),
      /^truecast: shared\.pt: it claims 200003 records, more than the \d+ bytes before its central directory can hold/);
  });
  it("refuses records that share a local header even when the file could hold them", async () => {
    const zip = manyRecordsZip({ extra: 2, sharedHeader: true });
    await assert.rejects(readZipDirectory({ file: memoryAccess(zip), fileName: "two.pt" }), (e: unknown) => {
      assert.ok(e instanceof TruecastError);
      assert.equal(e.code, "ZIP_INVALID");
      assert.match(e.message, /^two\.pt: records "archive\/version" and "archive\/x\/0" overlap \(both use the bytes at offset \d+\)/);
      return true;
    });
  });
  it("refuses more than 200,000 records", async () => {
    await assertRefused("many.pt", manyRecordsZip({ extra: 200_000, sharedHeader: false }),
      /^truecast: many\.pt: it claims 200003 records, more than the 200000 this reader accepts/);
  });
});
