import { test } from "node:test";
import assert from "node:assert/strict";
import { readHeaderPieces, type HeaderPiece } from "../../../src/formats/safetensors/header-pieces.js";
import { scanHeader } from "../../../src/formats/safetensors/header-entries.js";
import { isValidUtf8 } from "../../../src/formats/safetensors/strict-json.js";
import type { RandomAccess } from "../../../src/formats/zip.js";

/** A file in memory. */
function access(bytes: Uint8Array): RandomAccess {
  return { size: bytes.length, read: async (position, length) => bytes.slice(position, Math.min(bytes.length, position + length)) };
}

/** A safetensors file of header text `json` (padded with spaces to 8 bytes) and `data` zero bytes. */
function file(json: string, data = 0): Uint8Array {
  const text = Buffer.from(json, "utf8");
  const size = Math.ceil(text.length / 8) * 8;
  const out = Buffer.alloc(8 + size + data, 0x20);
  out.writeBigUInt64LE(BigInt(size), 0);
  text.copy(out, 8);
  out.fill(0, 8 + size);
  return out;
}

/** Names with what a cutter must not mistake for structure: commas, braces, brackets, quotes, escapes, non-ASCII. */
const NAMES = ["a", "b,c", "{d}", "[e]", 'f"g', "h\\i", "j\\", "ß.κ", "🦀,}", "\u0001", "layers.0.w"];

function header(names: readonly string[]): string {
  const entries = names.map((n, i) => `${JSON.stringify(n)}:{"dtype":"U8","shape":[${i % 2 === 0 ? "1" : "1,1"}],"data_offsets":[${i},${i + 1}]}`);
  return `{"__metadata__":{"format":"pt","x":"{,}"},${entries.join(",")}}`;
}

interface Read {
  rows: string[];
  metadata: (Record<string, string> | null)[];
  members: number;
}

async function pieces(bytes: Uint8Array, pieceBytes: number): Promise<Read> {
  const out: Read = { rows: [], metadata: [], members: 0 };
  await readHeaderPieces({
    file: access(bytes),
    path: "f.safetensors",
    pieceBytes,
    each: (p: HeaderPiece) => {
      for (let i = 0; i < p.table.count; i++) out.rows.push(JSON.stringify([p.table.name(i), p.table.dtype(i), p.table.shape(i), p.table.begin(i), p.table.end(i)]));
      out.metadata.push(p.metadata);
      out.members += p.members;
    },
  });
  return out;
}

/** The whole-header reader's view of the same bytes: rows in header order, or its failure. */
function whole(bytes: Uint8Array): Read | { failure: "duplicate" | "other" } {
  const n = Number(Buffer.from(bytes).readBigUInt64LE(0));
  const text = bytes.subarray(8, 8 + n);
  if (!isValidUtf8(text)) return { failure: "other" };
  const read = scanHeader(text, "f.safetensors");
  if ("json" in read) return { failure: read.json.problem === "duplicate" ? "duplicate" : "other" };
  if (!read.scan.ok) return { failure: "other" };
  const t = read.scan.table;
  const rows = Array.from({ length: t.count }, (_, i) => JSON.stringify([t.name(i), t.dtype(i), t.shape(i), t.begin(i), t.end(i)]));
  return { rows, metadata: [read.scan.metadata], members: t.count + (read.scan.metadata !== null ? 1 : 0) };
}

const SIZES = [1, 2, 3, 7, 16, 33, 100, 1 << 20];

test("a header read in pieces of any size gives the whole header's rows, in order, and counts its members", async () => {
  const bytes = file(header(NAMES), NAMES.length);
  const expected = whole(bytes);
  assert.ok(!("failure" in expected));
  for (const size of SIZES) {
    const got = await pieces(bytes, size);
    assert.deepEqual(got.rows, expected.rows, `pieces of ${size}`);
    assert.equal(got.members, NAMES.length + 1, `pieces of ${size}`);
    // The metadata comes with the first piece only.
    assert.deepEqual(got.metadata[0], { format: "pt", x: "{,}" });
    assert.ok(got.metadata.slice(1).every((m) => m === null));
    if (size === 1) assert.ok(got.metadata.length > NAMES.length / 2, "small reads cut the header into many pieces");
  }
  const empty = await pieces(file("{}"), 1);
  assert.deepEqual(empty, { rows: [], metadata: [null], members: 0 });
});

test("a damaged header is refused in pieces wherever the whole-header reader refuses it (every one-byte change)", async () => {
  const base = file(header(NAMES.slice(0, 6)));
  const n = Number(Buffer.from(base).readBigUInt64LE(0));
  // Structural bytes, and bytes that break UTF-8, written over every header byte.
  const replacements = [0x2c, 0x7b, 0x7d, 0x5d, 0x22, 0x5c, 0x3a, 0x20, 0xc3, 0xff];
  let refused = 0;
  let checked = 0;
  for (let at = 8; at < 8 + n; at++) {
    for (const b of replacements) {
      if (base[at] === b) continue;
      const bytes = Uint8Array.from(base);
      bytes[at] = b;
      const expected = whole(bytes);
      for (const size of [5, 64]) {
        checked++;
        const got = await pieces(bytes, size).catch((e: Error & { code?: string }) => e);
        if ("failure" in expected) {
          if (got instanceof Error) {
            assert.match(got.code ?? "", /^ST_/, `${at}: ${b}`);
            refused++;
            continue;
          }
          // Only a key repeated in two pieces reads piece by piece: the caller sees it twice (names or members).
          assert.equal(expected.failure, "duplicate", `byte ${at} set to ${b} read in pieces of ${size}`);
          const names = got.rows.map((r) => (JSON.parse(r) as unknown[])[0]);
          assert.ok(new Set(names).size < names.length || got.members !== names.length + 1, `byte ${at} set to ${b}: a repeat is visible`);
        } else {
          assert.ok(!(got instanceof Error), `byte ${at} set to ${b} read in pieces of ${size}: ${got instanceof Error ? got.message : ""}`);
          assert.deepEqual(got.rows, expected.rows);
          assert.equal(got.members, expected.members);
        }
      }
    }
  }
  assert.ok(refused > checked / 2, `${refused} of ${checked} damaged headers refused`);
});

test("commas out of place between members are refused, wherever the pieces are cut", async () => {
  const entry = (name: string, i: number) => `"${name}":{"dtype":"U8","shape":[1],"data_offsets":[${i},${i + 1}]}`;
  for (const json of [
    `{${entry("a", 0)},,${entry("b", 1)}}`,
    `{,${entry("a", 0)},${entry("b", 1)}}`,
    `{${entry("a", 0)},${entry("b", 1)},}`,
    `{${entry("a", 0)}, ,${entry("b", 1)}}`,
    `{${entry("a", 0)},${entry("b", 1)}},`,
  ]) {
    for (const size of SIZES) {
      await assert.rejects(pieces(file(json, 2), size), { code: "ST_HEADER_JSON" }, `${json} in pieces of ${size}`);
    }
  }
});

test("a second __metadata__ in a later piece is counted as a member beyond the tensors", async () => {
  const json = `{"__metadata__":{"format":"pt"},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"__metadata__":null}`;
  const got = await pieces(file(json, 1), 8);
  assert.equal(got.rows.length, 1);
  assert.equal(got.members, 3);
});

test("a file that ends inside its header is refused as truncated", async () => {
  const bytes = file(header(NAMES));
  await assert.rejects(pieces(bytes.subarray(0, 40), 16), { code: "ST_TRUNCATED" });
});

/** A header over the size read in pieces (~9 MB): `count` one-byte tensors, with `edit` applied to entry texts. */
function bigHeader(edit: (entries: string[]) => void = () => {}, metadata = '{"format":"pt"}'): Uint8Array {
  const count = 110_000;
  const entries = Array.from({ length: count }, (_, i) => `"model.layers.${i}.mlp.experts.weight":{"dtype":"U8","shape":[1],"data_offsets":[${i},${i + 1}]}`);
  edit(entries);
  return file(`{"__metadata__":${metadata},${entries.join(",")}}`, count);
}

/** What a reader gives: the header's rows and metadata, or its error's code and message. */
function outcome(read: () => { tensors: { count: number; name(i: number): string; shape(i: number): number[]; begin(i: number): number }; metadata: unknown }): unknown {
  try {
    const h = read();
    const t = h.tensors;
    return { metadata: h.metadata, rows: Array.from({ length: t.count }, (_, i) => `${t.name(i)} ${t.shape(i).join(",")} ${t.begin(i)}`) };
  } catch (e) {
    return { code: (e as { code?: string }).code, message: (e as Error).message };
  }
}

test("a header over 8 MB is read in pieces with the result, or the error, of reading it whole", async () => {
  const { readSafetensorsHeaderFrom } = await import("../../../src/formats/safetensors/read.js");
  const { parseHeader } = await import("../../../src/formats/safetensors/header.js");
  const cases: [string, Uint8Array][] = [
    ["valid (offsets out of header order)", bigHeader((e) => ([e[0], e[1]] = [e[1] as string, e[0] as string]))],
    ["__metadata__ null", bigHeader(undefined, "null")],
    ["a name repeated pieces apart", bigHeader((e) => (e[100_000] = (e[100_000] as string).replace("layers.100000.", "layers.0.")))],
    ["a second __metadata__ at the end", bigHeader((e) => e.push('"__metadata__":{"a":"b"}'))],
    ["a bad dtype, then a JSON error later", bigHeader((e) => ((e[60_000] = (e[60_000] as string).replace('"U8"', '"X9"')), (e[100_000] = (e[100_000] as string).replace("{", "["))))],
    ["an offset past 2^53", bigHeader((e) => (e[70_000] = (e[70_000] as string).replace("[70000,70001]", "[70000,18014398509481984]")))],
  ];
  for (const [what, bytes] of cases) {
    const n = Number(Buffer.from(bytes).readBigUInt64LE(0));
    assert.ok(n > 8 * 1024 * 1024, `${what}: ${n} bytes`);
    const whole = outcome(() => parseHeader({ prefix: bytes.subarray(0, 8), headerBytes: bytes.subarray(8, 8 + n), fileSize: bytes.length, file: "f.safetensors" }));
    const reads: number[] = [];
    const counted = access(bytes);
    const file = { size: counted.size, read: (position: number, length: number) => (reads.push(length), counted.read(position, length)) };
    const inPieces = await readSafetensorsHeaderFrom({ file, path: "f.safetensors" }).then(
      (h) => outcome(() => h),
      (e: Error & { code?: string }) => ({ code: e.code, message: e.message }),
    );
    assert.deepEqual(inPieces, whole, what);
    if (what.startsWith("valid")) assert.equal((whole as { rows: string[] }).rows.length, 110_000);
    // Valid JSON is never read whole (layout rules are checked on the table); damaged JSON is, for the reference's
    // error (and a null metadata, to settle it).
    const wholeRead = what.startsWith("a name") || what.startsWith("a second") || what.startsWith("a bad") || what.includes("null");
    assert.equal(Math.max(...reads) === n, wholeRead, `${what}: reads of ${reads.join(", ")} bytes`);
  }
});
