/**
 * Structure-aware safetensors mutations for the fuzzer: edit the JSON header (offsets, dtypes, shapes, huge numbers,
 * duplicate keys, metadata, odd JSON) and write it back with a correct 8-byte length, or edit the length itself.
 */
import { concat, INTERESTING_U64, mutateBytes, type Rng, writeU64 } from "./mutate.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

type Entry = { dtype?: unknown; shape?: unknown; data_offsets?: unknown };

const DTYPES = ["F32", "F16", "BF16", "F64", "I8", "U8", "I16", "I32", "I64", "BOOL", "F8_E4M3", "F8_E5M2", "U16", "U32", "U64", "C64", "F4", "f32", "", "float32"];
/** Numbers as JSON text: edges of integers and doubles, and forms a strict reader must refuse or handle exactly. */
const NUMBERS = ["0", "1", "-1", "2", "7", "4294967295", "4294967296", "9007199254740991", "9007199254740993", "18446744073709551615",
  "1e400", "1e2", "1.5", "-0", "1.0", "0x10", "00", "NaN", "null", "\"3\"", "[]", "{}", "true"];

function splitFile(file: Uint8Array): { header: string; data: Uint8Array } | null {
  if (file.length < 8) return null;
  const n = Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true));
  if (n > file.length - 8) return null;
  return { header: dec.decode(file.subarray(8, 8 + n)), data: file.subarray(8 + n) };
}

/** A safetensors file from header text and data, with the length field right (and the header sometimes padded to 8). */
export function joinFile(header: string, data: Uint8Array, pad = false): Uint8Array {
  let h: Uint8Array = enc.encode(header);
  if (pad && h.length % 8 !== 0) h = concat([h, enc.encode(" ".repeat(8 - (h.length % 8)))]);
  const len = new Uint8Array(8);
  writeU64(len, 0, BigInt(h.length));
  return concat([len, h, data]);
}

function numberText(rng: Rng): string {
  return rng.pick(NUMBERS);
}

/** Edit the header as JSON text (what JSON.stringify cannot express: duplicate keys, huge numbers, deep nesting). */
function textEdit(rng: Rng, header: string, names: string[]): { header: string; what: string } {
  switch (rng.int(6)) {
    case 0: {
      const name = rng.pick(names);
      const at = header.indexOf(`${JSON.stringify(name)}:`);
      const end = at < 0 ? -1 : header.indexOf("}", at);
      if (end < 0) return { header, what: "nothing" };
      const entry = header.slice(at, end + 1);
      return { header: `{${entry},${header.slice(1)}`, what: `duplicate key ${name}` };
    }
    case 1: {
      // Replace one number in the header with odd number text.
      const nums = [...header.matchAll(/-?\d+/g)];
      if (nums.length === 0) return { header, what: "nothing" };
      const m = rng.pick(nums);
      const t = numberText(rng);
      return { header: header.slice(0, m.index) + t + header.slice((m.index ?? 0) + m[0].length), what: `number ${m[0]} at ${m.index} = ${t}` };
    }
    case 2: {
      const depth = rng.pick([10, 1000, 100_000]);
      return { header: `{"__metadata__":{"x":${"[".repeat(depth)}${"]".repeat(depth)}},${header.slice(1)}`, what: `metadata nested ${depth} deep` };
    }
    case 3: {
      const s = rng.pick(["\\ud800", "\\u0000", "\\\"", "\u00e9", "\\x41", "\t", "\n"]);
      const at = header.indexOf('"', 1);
      return { header: header.slice(0, at + 1) + s + header.slice(at + 1), what: `key gets ${JSON.stringify(s)}` };
    }
    case 4:
      return { header: header + rng.pick(["   ", "\u0000", ",", "}", " x"]), what: "trailing text after the header" };
    default: {
      const at = rng.int(header.length);
      return { header: header.slice(0, at) + header.slice(at + 1 + rng.int(4)), what: `header chars at ${at} deleted` };
    }
  }
}

/** Edit the header as parsed JSON: an entry's offsets, dtype or shape, the metadata, the entry list. */
function jsonEdit(rng: Rng, obj: Record<string, unknown>, names: string[]): string {
  const entryOf = (n: string): Entry => {
    const v = obj[n];
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Entry;
    return (obj[n] = {});
  };
  const name = rng.pick(names);
  const e = entryOf(name);
  const num = () => JSON.parse(rng.pick(["0", "1", "-1", "3", "4294967296", "9007199254740991", "1.5", "1e300", "\"3\"", "null"])) as unknown;
  switch (rng.int(9)) {
    case 0: {
      const off = Array.isArray(e.data_offsets) ? [...(e.data_offsets as unknown[])] : [0, 0];
      const k = rng.int(2);
      off[k] = rng.chance(0.5) ? num() : (off[k] as number) + rng.pick([1, -1, 2, 4, -4, 1 << 20]);
      e.data_offsets = rng.chance(0.1) ? [...off, 0] : off;
      return `${name}: data_offsets = ${JSON.stringify(e.data_offsets)}`;
    }
    case 1:
      e.dtype = rng.chance(0.9) ? rng.pick(DTYPES) : num();
      return `${name}: dtype = ${JSON.stringify(e.dtype)}`;
    case 2: {
      const shape = Array.isArray(e.shape) ? [...(e.shape as unknown[])] : [];
      const how = rng.int(5);
      if (how === 0) shape.push(rng.pick([0, 1, 2, 3]));
      else if (how === 1) shape.pop();
      else if (how === 2 && shape.length > 0) shape[rng.int(shape.length)] = num();
      else if (how === 3) shape.push(...new Array<number>(rng.pick([10, 1100, 50_000])).fill(1));
      else shape.splice(0, shape.length, 2 ** 31, 2 ** 31, 2 ** 31);
      e.shape = shape;
      return `${name}: shape edited (${how}, rank ${shape.length})`;
    }
    case 3: {
      const other = entryOf(rng.pick(names));
      [e.data_offsets, other.data_offsets] = [other.data_offsets, e.data_offsets];
      return `${name}: offsets swapped`;
    }
    case 4:
      delete obj[name];
      return `${name}: removed`;
    case 5: {
      const md: Record<string, unknown> = {};
      const how = rng.int(4);
      if (how === 0) md.format = "pt";
      else if (how === 1) md.n = rng.chance(0.5) ? 3 : { nested: "x" };
      else if (how === 2) for (let i = 0; i < rng.pick([10, 100_001]); i++) md[`k${i}`] = "v";
      else md.big = "x".repeat(1 << 20);
      obj.__metadata__ = rng.chance(0.1) ? "not an object" : md;
      return `metadata edited (${how})`;
    }
    case 6: {
      const to = rng.pick(["", "x\ntruecast: ok", "\u001b[2J", "__metadata__", "a".repeat(10_000), "model.layers.0.weight"]);
      obj[to] = e;
      if (to !== name) delete obj[name];
      return `${name}: renamed to ${JSON.stringify(to.slice(0, 30))}`;
    }
    case 7:
      obj[name] = rng.pick([null, 1, "x", [], { dtype: "F32" }, { ...e, extra: 1 }]);
      return `${name}: entry replaced`;
    default: {
      for (let i = 0; i < rng.pick([2, 1000]); i++) obj[`copy${i}.${name}`] = { ...e };
      return `${name}: copied under new names`;
    }
  }
}

/** One structure-aware mutation of a safetensors file (falls back to byte mutations when the header cannot be parsed). */
export function mutateSafetensors(rng: Rng, file: Uint8Array): { bytes: Uint8Array; what: string } {
  const parts = splitFile(file);
  if (parts === null) return mutateBytes(rng, file);
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(parts.header) as Record<string, unknown>;
  } catch {
    return mutateBytes(rng, file);
  }
  const names = Object.keys(obj).filter((k) => k !== "__metadata__");
  if (names.length === 0) return mutateBytes(rng, file);
  const choice = rng.int(10);
  if (choice < 5) {
    const what = jsonEdit(rng, obj, names);
    return { bytes: joinFile(JSON.stringify(obj), parts.data, rng.chance(0.5)), what };
  }
  if (choice < 8) {
    const t = textEdit(rng, parts.header, names);
    return { bytes: joinFile(t.header, parts.data), what: t.what };
  }
  if (choice === 8) {
    const b = file.slice();
    const v = rng.chance(0.5) ? rng.pick(INTERESTING_U64) : BigInt(parts.header.length + rng.pick([1, -1, 8, -8]));
    writeU64(b, 0, v);
    return { bytes: b, what: `header length = ${v}` };
  }
  const m = mutateBytes(rng, parts.data);
  return { bytes: joinFile(parts.header, m.bytes), what: `data: ${m.what}` };
}
