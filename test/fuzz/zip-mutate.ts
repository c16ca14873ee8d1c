/**
 * Structure-aware mutations of torch zip archives for the fuzzer: mutate data.pkl or a storage inside the archive and
 * rebuild every local and central header (so the change reaches the unpickler), or edit central directory, end
 * record and ZIP64 fields of a well-formed archive.
 */
import { readZipDirectory } from "../../src/formats/zip.js";
import { buildZip, memoryAccess, type ZipRecord } from "../formats/torch/zip-builder.js";
import { INTERESTING_U32, INTERESTING_U64, mutateBytes, type Rng, writeU32, writeU64 } from "./mutate.js";
import { mutatePickle, stripFrames } from "./pickle-mutate.js";

/** The records of a (valid) archive, in file order, with their data. */
export async function readRecords(zip: Uint8Array): Promise<ZipRecord[]> {
  const dir = await readZipDirectory({ file: memoryAccess(zip), fileName: "seed.zip" });
  return [...dir.entries.values()]
    .sort((a, b) => (a.localHeaderOffset < b.localHeaderOffset ? -1 : 1))
    .map((e) => ({ name: e.name, data: zip.slice(e.dataOffset, e.dataOffset + Number(e.compressedSize)) }));
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Offsets of the central directory records of an archive buildZip wrote (no comment in the way). */
function centralRecords(zip: Uint8Array): { eocd: number; records: number[] } {
  const eocd = findEocd(zip);
  const records: number[] = [];
  if (eocd < 0) return { eocd, records };
  const view = dv(zip);
  // Scan for central signatures (record data could hold one by chance; then that "record" is mutated, no harm).
  for (let p = 0; p + 46 <= zip.length; p++) {
    if (view.getUint32(p, true) === 0x02014b50) {
      records.push(p);
      p += 45 + view.getUint16(p + 28, true) + view.getUint16(p + 30, true) + view.getUint16(p + 32, true);
    }
  }
  return { eocd, records };
}

function findEocd(zip: Uint8Array): number {
  const view = dv(zip);
  for (let p = zip.length - 22; p >= 0; p--) if (view.getUint32(p, true) === 0x06054b50) return p;
  return -1;
}

/** Central directory fields worth breaking: [offset in the record, width]. */
const CENTRAL_FIELDS: readonly (readonly [number, 2 | 4, string])[] = [
  [8, 2, "flags"], [10, 2, "method"], [20, 4, "compressed size"], [24, 4, "size"], [28, 2, "name length"],
  [30, 2, "extra length"], [32, 2, "comment length"], [34, 2, "disk"], [42, 4, "local header offset"],
];
const EOCD_FIELDS: readonly (readonly [number, 2 | 4, string])[] = [
  [4, 2, "disk"], [6, 2, "cd disk"], [8, 2, "records on disk"], [10, 2, "records"], [12, 4, "cd size"], [16, 4, "cd offset"], [20, 2, "comment length"],
];

function setField(zip: Uint8Array, at: number, width: 2 | 4, rng: Rng): string {
  const v = rng.pick(INTERESTING_U32);
  const tweak = rng.chance(0.3);
  if (at + width > zip.length) return "nothing";
  const view = dv(zip);
  if (width === 2) {
    const nv = tweak ? (view.getUint16(at, true) + rng.pick([1, -1, 2, 64])) & 0xffff : v & 0xffff;
    view.setUint16(at, nv, true);
    return `0x${nv.toString(16)}`;
  }
  const nv = tweak ? (view.getUint32(at, true) + rng.pick([1, -1, 2, 64, -64])) >>> 0 : v;
  writeU32(zip, at, nv);
  return `0x${nv.toString(16)}`;
}

/** Edit one field of a central record, the end record, or a ZIP64 structure (extra field, ZIP64 end record). */
export function mutateDirectory(rng: Rng, zip: Uint8Array): { bytes: Uint8Array; what: string } {
  const b = zip.slice();
  const { eocd, records } = centralRecords(b);
  const view = dv(b);
  const kind = rng.int(4);
  if (kind === 0 && eocd >= 0) {
    const [off, w, name] = rng.pick(EOCD_FIELDS);
    return { bytes: b, what: `end record ${name} = ${setField(b, eocd + off, w, rng)}` };
  }
  if (kind === 1 && records.length > 0) {
    const r = rng.pick(records);
    const extraLen = view.getUint16(r + 30, true);
    if (extraLen >= 12) {
      // A ZIP64 extra field: header id, size, then 8-byte values (size, compressed size, offset).
      const at = r + 46 + view.getUint16(r + 28, true) + 4 + 8 * rng.int(Math.floor((extraLen - 4) / 8));
      const v = rng.pick(INTERESTING_U64);
      writeU64(b, at, v);
      return { bytes: b, what: `ZIP64 extra value at ${at} = ${v}` };
    }
  }
  if (kind === 2) {
    for (let p = eocd - 20; p >= 0 && p >= eocd - 200; p--) {
      if (view.getUint32(p, true) === 0x06064b50) {
        const at = p + rng.pick([4, 24, 32, 40, 48]);
        const v = rng.pick(INTERESTING_U64);
        writeU64(b, at, v);
        return { bytes: b, what: `ZIP64 end record field at ${at} = ${v}` };
      }
    }
  }
  if (records.length === 0) return mutateBytes(rng, b);
  const r = rng.pick(records);
  const [off, w, name] = rng.pick(CENTRAL_FIELDS);
  return { bytes: b, what: `central record at ${r}: ${name} = ${setField(b, r + off, w, rng)}` };
}

/**
 * One structure-aware mutation of a torch zip archive: the pickle, a storage or the record list is changed and the
 * archive rebuilt with valid headers (sometimes as ZIP64), or the rebuilt archive's directory is edited.
 */
export async function mutateTorchZip(rng: Rng, zip: Uint8Array): Promise<{ bytes: Uint8Array; what: string }> {
  const records = await readRecords(zip);
  const zip64 = rng.chance(0.25);
  const pkl = records.findIndex((r) => r.name.endsWith("/data.pkl") || r.name === "data.pkl");
  const what: string[] = [];
  const choice = rng.int(10);
  if (choice < 5 && pkl >= 0) {
    let data = rng.chance(0.8) ? stripFrames((records[pkl] as ZipRecord).data) : (records[pkl] as ZipRecord).data;
    const rounds = 1 + rng.int(3);
    for (let k = 0; k < rounds; k++) {
      const m = mutatePickle(rng, data) ?? mutateBytes(rng, data);
      data = m.bytes;
      what.push(`data.pkl: ${m.what}`);
    }
    records[pkl] = { name: (records[pkl] as ZipRecord).name, data };
  } else if (choice < 7) {
    const i = rng.int(records.length);
    const r = records[i] as ZipRecord;
    const m = mutateBytes(rng, r.data);
    records[i] = { name: r.name, data: m.bytes };
    what.push(`${r.name}: ${m.what}`);
  } else if (choice < 9) {
    const i = rng.int(records.length);
    const r = records[i] as ZipRecord;
    switch (rng.int(5)) {
      case 0:
        records.splice(i, 1);
        what.push(`drop record ${r.name}`);
        break;
      case 1:
        records.push({ name: r.name, data: r.data });
        what.push(`duplicate record ${r.name}`);
        break;
      case 2: {
        const name = rng.pick(["archive/data/0", "archive/data/99", "other/data.pkl", "archive/version", "archive/byteorder", "", "../x", r.name + "\u0000"]);
        records[i] = { name, data: r.data };
        what.push(`rename ${r.name} to ${JSON.stringify(name)}`);
        break;
      }
      case 3:
        records[i] = { ...r, method: rng.pick([8, 12, 99]) };
        what.push(`${r.name}: method changed`);
        break;
      default:
        records[i] = { ...r, data: rng.pick([new TextEncoder().encode("big"), new TextEncoder().encode("little"), new TextEncoder().encode("9\n")]) };
        what.push(`${r.name}: contents replaced`);
    }
  }
  let bytes = buildZip(records, { align: 64, ...(zip64 ? { zip64: true } : {}) });
  if (choice === 9 || rng.chance(0.1)) {
    const m = mutateDirectory(rng, bytes);
    bytes = m.bytes;
    what.push(m.what);
  }
  return { bytes, what: `${zip64 ? "zip64 " : ""}${what.join("; ") || "rebuilt"}` };
}
