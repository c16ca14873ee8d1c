/**
 * `model.safetensors.index.json`, the map from tensor name to shard file of a sharded checkpoint:
 * `{"metadata": {"total_size": <bytes of tensor data>}, "weight_map": {name: shard file}}`.
 * Read strictly (duplicate keys, unsafe shard names refused) and written the way transformers writes it.
 */
import { TruecastError } from "../../errors.js";
import { INDEX_FILE, readSideFile } from "../side-file.js";
import { compareCodePoints } from "./layout.js";
import { fileError } from "./read.js";
import { describeKind, parseStrictJson, type JsonValue } from "./strict-json.js";

export const SAFETENSORS_INDEX_NAME = "model.safetensors.index.json";

/** Largest index file read (see side-file.ts for the reason). */
export { MAX_INDEX_FILE_SIZE } from "../side-file.js";

export interface SafetensorsIndex {
  /** `metadata.total_size`, or null when the index has none. */
  totalSize: number | null;
  /** Tensor name → shard file name, in the index's order. */
  weightMap: Map<string, string>;
  /** The distinct shard files, sorted by name (the 5-digit numbering makes that their 1..n order). */
  shards: string[];
}

/** Parses and checks the text of an index file; `file` names it in messages. */
export function parseIndex(params: { text: string; file: string }): SafetensorsIndex {
  const { text, file } = params;
  const invalid = (what: string): never => {
    throw new TruecastError("INDEX_INVALID", `${file}: ${what}; restore the index from where the shards came from`);
  };
  const parsed = parseStrictJson(text);
  if (!parsed.ok) {
    return parsed.problem === "duplicate"
      ? invalid(`"${parsed.key}" appears twice${parsed.path.length > 0 ? ` in "${parsed.path.join(".")}"` : ""}`)
      : invalid(`not valid JSON (${parsed.detail} at character ${parsed.offset})`);
  }
  const root = parsed.value;
  if (root.kind !== "object") return invalid("not a JSON object");
  const metadata = field(root, "metadata");
  let totalSize: number | null = null;
  if (metadata !== undefined && metadata.kind !== "null") {
    if (metadata.kind !== "object") return invalid('"metadata" is not an object');
    const total = field(metadata, "total_size");
    if (total !== undefined) {
      const n = total.kind === "number" ? Number(total.raw) : NaN;
      if (!Number.isSafeInteger(n) || n < 0) return invalid('"metadata.total_size" is not a byte count');
      totalSize = n;
    }
  }
  const map = field(root, "weight_map");
  if (map === undefined) return invalid('no "weight_map"');
  if (map.kind !== "object") return invalid('"weight_map" is not an object');
  const weightMap = new Map<string, string>();
  for (const [name, shard] of map.entries) {
    if (shard.kind !== "string") return invalid(`tensor "${name}" maps to ${describeKind(shard)}, not a shard file name`);
    if (!isPlainFileName(shard.value)) {
      return invalid(`tensor "${name}" maps to "${shard.value}", which is not a plain file name in the same folder`);
    }
    weightMap.set(name, shard.value);
  }
  const shards = [...new Set(weightMap.values())].sort(compareCodePoints);
  return { totalSize, weightMap, shards };
}

/** Reads and parses the index file at `path`. */
export async function readIndexFile(path: string): Promise<SafetensorsIndex> {
  let text: string;
  try {
    text = await readSideFile(path, INDEX_FILE);
  } catch (e) {
    if (e instanceof TruecastError) throw e;
    throw fileError(path, e);
  }
  return parseIndex({ text, file: path });
}

/**
 * The index as transformers writes it (`json.dumps(index, indent=2, sort_keys=True) + "\n"`): every
 * object's keys sorted, two-space indent, non-ASCII escaped as `\uXXXX`, a final newline.
 */
export function serializeIndex(params: {
  totalSize: number;
  weightMap: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  /** More numeric metadata (transformers 4.5x adds `total_parameters`). */
  extraMetadata?: Readonly<Record<string, number>>;
}): string {
  const { totalSize, extraMetadata = {} } = params;
  const weightMap = params.weightMap instanceof Map ? [...params.weightMap] : Object.entries(params.weightMap);
  const metadata: Array<[string, string]> = Object.entries({ ...extraMetadata, total_size: totalSize }).map(
    ([k, v]) => [k, pythonNumber(k, v)],
  );
  const root: Array<[string, string]> = [
    ["metadata", pythonObject(metadata, "  ")],
    ["weight_map", pythonObject(weightMap.map(([k, v]) => [k, pythonString(v)]), "  ")],
  ];
  return pythonObject(root, "") + "\n";
}

/** `{` + sorted `"key": value` lines at `indent` + 2 spaces + `}`, as Python's json.dumps(indent=2). */
function pythonObject(entries: Array<[string, string]>, indent: string): string {
  if (entries.length === 0) return "{}";
  const inner = indent + "  ";
  const lines = [...entries]
    .sort(([a], [b]) => compareCodePoints(a, b))
    .map(([k, v]) => `${inner}${pythonString(k)}: ${v}`);
  return `{\n${lines.join(",\n")}\n${indent}}`;
}

/** A JSON string as Python's json.dumps writes it with ensure_ascii=True. */
export function pythonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i] ?? "";
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c < 0x20 || c > 0x7e) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += ch;
  }
  return out + '"';
}

function pythonNumber(key: string, v: number): string {
  if (!Number.isSafeInteger(v)) throw new TruecastError("INTERNAL", `index metadata "${key}" is not an integer: ${v}`);
  return String(v);
}

/** A name that stays in its folder: no separators, not `.` or `..`, no NUL. */
export function isPlainFileName(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !/[/\\\0]/.test(name);
}

function field(obj: Extract<JsonValue, { kind: "object" }>, key: string): JsonValue | undefined {
  return obj.entries.find(([k]) => k === key)?.[1];
}
