import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { MAX_METADATA_ENTRIES, MAX_TENSOR_RANK } from "../../../src/formats/safetensors/header.js";
import { readSafetensorsHeader } from "../../../src/formats/safetensors/read.js";
import { repoRoot, tempDir } from "../../helpers.js";
import { fails, parseBytes, stFile } from "./build.js";
import { writeBigMetadata, writeHighRank } from "./huge-headers.js";

const run = promisify(execFile);
const CLI = join(repoRoot(), "dist", "src", "cli", "main.js");
/** A heap far below what a JSON-tree reader needs for a 98 MB header (it aborted at 4+ GB), above the header itself. */
const HEAP_MB = 384;

/** Runs the CLI under a bounded heap; never rejects. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [`--max-old-space-size=${HEAP_MB}`, CLI, ...args], { maxBuffer: 256 << 20, timeout: 300_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string; signal?: string };
    return { code: typeof err.code === "number" ? err.code : -1, stdout: err.stdout ?? "", stderr: `${err.signal ?? ""}${err.stderr ?? ""}` };
  }
}

const shape = (rank: number) => `[${Array(rank).fill(1).join(",")}]`;
const entry = (rank: number) => `{"w":{"dtype":"F32","shape":${shape(rank)},"data_offsets":[0,4]}}`;

test(`a shape of up to ${MAX_TENSOR_RANK} dimensions is read; one more is ST_BAD_ENTRY`, () => {
  assert.equal(parseBytes(stFile({ header: entry(MAX_TENSOR_RANK), data: 4 })).entries[0]?.shape.length, MAX_TENSOR_RANK);
  assert.throws(
    () => parseBytes(stFile({ header: entry(MAX_TENSOR_RANK + 1), data: 4 }), "f.safetensors"),
    fails("ST_BAD_ENTRY", 'f.safetensors: tensor "w" has a shape of 1025 dimensions, more than the 1024'),
  );
});

test("the rank limit keeps the rule order: a bad dimension anywhere in the shape, and any JSON problem, come first", () => {
  const badDim = `{"w":{"dtype":"F32","shape":[${"1,".repeat(2000)}-1],"data_offsets":[0,4]}}`;
  assert.throws(() => parseBytes(stFile({ header: badDim, data: 4 })), fails("ST_BAD_ENTRY", "shape dimension that is not an integer"));
  const thenSyntax = `{"w":{"dtype":"F32","shape":${shape(2000)},"data_offsets":[0,4]},"x":[}`;
  assert.throws(() => parseBytes(stFile({ header: thenSyntax, data: 4 })), fails("ST_HEADER_JSON", "not valid JSON"));
  const thenDuplicate = `{"w":{"dtype":"F32","shape":${shape(2000)},"data_offsets":[0,4]},"w":1}`;
  assert.throws(() => parseBytes(stFile({ header: thenDuplicate, data: 4 })), fails("ST_DUPLICATE_KEY", '"w" twice'));
  const dtypeFirst = `{"w":{"shape":${shape(2000)},"dtype":"F99","data_offsets":[0,4]}}`;
  assert.throws(() => parseBytes(stFile({ header: dtypeFirst, data: 4 })), fails("ST_UNKNOWN_DTYPE", '"F99"'));
});

test(`up to ${MAX_METADATA_ENTRIES} metadata entries are read; more is ST_METADATA`, () => {
  const meta = (n: number) => `{"__metadata__":{${Array.from({ length: n }, (_, i) => `"k${i}":"v"`).join(",")}}}`;
  assert.equal(Object.keys(parseBytes(stFile({ header: meta(MAX_METADATA_ENTRIES) })).metadata ?? {}).length, MAX_METADATA_ENTRIES);
  assert.throws(
    () => parseBytes(stFile({ header: meta(MAX_METADATA_ENTRIES + 1) }), "f.safetensors"),
    fails("ST_METADATA", `f.safetensors: "__metadata__" has more than ${MAX_METADATA_ENTRIES} entries`),
  );
});

test("a 98 MB header of one 49-million-dimension tensor: one clear line under a bounded heap (was: heap exhausted)", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = join(dir, "rank.safetensors");
    await writeHighRank(file, 49_000_000);
    const r = await cli(["inspect", file]);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, `truecast: ${file}: tensor "w" has a shape of 49000000 dimensions, more than the 1024 truecast reads (numpy stops at 64; model weights have at most 5); the file is refused\n`);
    assert.equal(r.code, 1);
  } finally {
    await cleanup();
  }
});

test("44 MB of __metadata__ in a million entries: one clear line under a bounded heap (was: heap exhausted)", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = join(dir, "meta.safetensors");
    await writeBigMetadata(file, 1_000_000, 40);
    const r = await cli(["inspect", file]);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, `truecast: ${file}: "__metadata__" has more than 100000 entries, more than truecast holds (real files carry a handful)\n`);
    assert.equal(r.code, 1);
  } finally {
    await cleanup();
  }
});

test("45 MB of __metadata__ in large values is read, and printed, under a bounded heap", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = join(dir, "meta.safetensors");
    await writeBigMetadata(file, 22_500, 2000);
    const h = await readSafetensorsHeader(file);
    assert.equal(Object.keys(h.metadata ?? {}).length, 22_501);
    assert.equal(h.metadata?.k22499, "m".repeat(2000));
    const r = await cli(["inspect", file, "--json"]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.match(r.stdout, /"k22499": ?"m{2000}"/);
  } finally {
    await cleanup();
  }
});
