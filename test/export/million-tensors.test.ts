import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot, tempDir } from "../helpers.js";
import { expertTensorBytes, expertTensorName, writeExpertShard } from "../formats/safetensors/huge-headers.js";

const run = promisify(execFile);
/** The CLI run in a child that reports its peak RSS (test/fuzz/cli-rss.ts). */
const CLI = join(repoRoot(), "dist", "test", "fuzz", "cli-rss.js");
/**
 * The memory target (issue 9 item 5): one file of 1,000,000 one-element float16 tensors (a ~95 MB header) exports
 * within 300 MB of peak RSS. The million takes minutes on a loaded machine, so it runs with TRUECAST_SLOW=1; the
 * normal suite runs 300,000 tensors, named as a mixture-of-experts model names them, enough to tell per-tensor cost
 * from fixed cost (the code before the column tables held ~2.8 KB per tensor: 2.8 GB for 1M).
 */
const SLOW = process.env["TRUECAST_SLOW"] === "1";
interface Case {
  count: number;
  /** Heap for the run (--max-old-space-size). */
  heapMb: number;
  /** Peak RSS allowed. */
  rssMb: number;
  /** A target not met yet: reported by `node --test` as todo (its failure does not fail the run). */
  todo?: string;
}
const CASES: Case[] = [
  // The code before the column tables needed over 600 MB of heap here; before the plan pointed at the source's names
  // and the written header was checked in pieces, 290 MB of RSS; before the tensors' views were made when read and
  // the columns narrowed, 234 MB (now ~200 MB).
  { count: 300_000, heapMb: 96, rssMb: 240 },
  // Before the tensors' views were made when read and the columns narrowed: 407 MB (now 270-285 MB).
  ...(SLOW ? [{ count: 1_000_000, heapMb: 128, rssMb: 300 }] : []),
];

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

async function header(path: string): Promise<{ entries: Record<string, Entry>; dataStart: number }> {
  const bytes = await readFile(path);
  const n = Number(bytes.readBigUInt64LE(0));
  return { entries: JSON.parse(bytes.subarray(8, 8 + n).toString("utf8")) as Record<string, Entry>, dataStart: 8 + n };
}

async function runCli(heapMb: number, args: string[], rssFile: string): Promise<{ stdout: string; stderr: string; rssMb: number }> {
  const r = await run(process.execPath, [`--max-old-space-size=${heapMb}`, CLI, ...args], {
    timeout: 1_800_000,
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, TRUECAST_FUZZ_CHILD: "1", TRUECAST_FUZZ_RSS_FILE: rssFile },
  });
  return { stdout: r.stdout, stderr: r.stderr, rssMb: Number(await readFile(rssFile, "utf8")) / 1024 };
}

for (const { count: COUNT, heapMb: HEAP_MB, rssMb: RSS_MB, todo } of CASES) test(`${COUNT} tiny float16 tensors export bit for bit and inspect within a ${HEAP_MB} MB heap and ${RSS_MB} MB RSS`, { timeout: 3_600_000, ...(todo ? { todo } : {}) }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const source = join(dir, "experts.safetensors");
    const out = join(dir, "out");
    await writeExpertShard(source, COUNT, "F16");

    const inspected = await runCli(HEAP_MB, ["inspect", source], join(dir, "inspect.rss"));
    assert.equal(inspected.stderr, "");
    assert.match(inspected.stdout, new RegExp(`tensors: ${COUNT} · parameters: ${COUNT.toLocaleString("en-US")}`));
    assert.match(inspected.stdout, /metadata \{"format":"pt"\}/);
    assert.ok(inspected.rssMb < RSS_MB, `inspect peaked at ${inspected.rssMb.toFixed(0)} MB RSS`);

    const exported = await runCli(HEAP_MB, ["export", source, out], join(dir, "export.rss"));
    assert.equal(exported.stderr, "");
    assert.match(exported.stdout, new RegExp(`bit-exact: ${COUNT}/${COUNT} tensors`));
    assert.ok(exported.rssMb < RSS_MB, `export peaked at ${exported.rssMb.toFixed(0)} MB RSS`);

    // Every tensor is there, in the reference writer's order (by name: "layers.10" before "layers.2"), with its bytes.
    const shard = join(out, "model.safetensors");
    const { entries, dataStart } = await header(shard);
    const names = Object.keys(entries).filter((k) => k !== "__metadata__");
    assert.equal(names.length, COUNT);
    assert.deepEqual(names, [...names].sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b)))));
    const file = await open(shard, "r");
    try {
      for (const i of [0, 1, 2, 4097, 123_456, COUNT - 1]) {
        const e = entries[expertTensorName(i)];
        assert.deepEqual([e?.dtype, e?.shape], ["F16", [1]], expertTensorName(i));
        const got = Buffer.alloc(2);
        await file.read(got, 0, 2, dataStart + (e?.data_offsets[0] ?? 0));
        assert.deepEqual([...got], [...expertTensorBytes(i, "F16")], expertTensorName(i));
      }
    } finally {
      await file.close();
    }
    // The report lists every tensor with its digest.
    const report = JSON.parse(await readFile(join(out, "truecast-report.json"), "utf8")) as { tensors: { name: string; digest: string }[]; bitExact: number };
    assert.equal(report.bitExact, COUNT);
    assert.equal(report.tensors.length, COUNT);
    assert.match(report.tensors[COUNT - 1]?.digest ?? "", /^(xxh3-64|sha256):/);
  } finally {
    await cleanup();
  }
});
