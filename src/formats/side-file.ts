/**
 * The small JSON and YAML files beside the weights that truecast parses (config.json, adapter_config.json,
 * cfg.yaml, weight indexes): read with a size cap and a nesting cap checked before any parser sees them, so a
 * hostile file is one clear error instead of gigabytes of heap or a stack overflow. Files truecast only copies
 * are governed by MAX_CARRIED_FILE_SIZE instead.
 */
import { open } from "node:fs/promises";
import { TruecastError, type ErrorCode } from "../errors.js";
import { jsonNestingDepth, yamlNestingDepth } from "./nesting-depth.js";
import type { RandomAccess } from "./zip.js";

/**
 * Largest config.json, generation_config.json or adapter_config.json parsed. The largest real ones (image
 * classifiers listing 21,841 ImageNet-22k labels in `id2label`) stay under 1 MB; at 4 MiB the worst a parse
 * can allocate (millions of tiny arrays) stays near 60 MB of heap.
 */
export const MAX_CONFIG_FILE_SIZE = 4 * 1024 * 1024;

/**
 * Largest cfg.yaml: H2O LLM Studio writes 2 to 5 KB. The yaml package needs ~1.5 KB of heap per byte of flow
 * collections and checks each mapping's keys for duplicates in quadratic time (a 64 KiB mapping of 11,000
 * keys takes seconds), so the cap is tight: 64 KiB is still ten times any real one.
 */
export const MAX_YAML_CONFIG_SIZE = 64 * 1024;

/**
 * Largest weight index (`*.index.json`). An index lists each tensor once: a 400B-parameter model has ~10^5
 * tensors, a few MB of JSON; 64 MiB still holds ~700,000 entries.
 */
export const MAX_INDEX_FILE_SIZE = 64 * 1024 * 1024;

/**
 * Deepest nesting parsed. Real configs nest 3 or 4 levels (`text_config.rope_scaling.…`); serde_json stops at
 * 128 and so does truecast's strict JSON reader; JSON.parse and the yaml package overflow the stack near 1,000.
 */
export const MAX_SIDE_FILE_DEPTH = 128;

/** Which file a limit is about, for the error: its code and a short description of what such a file is. */
export interface SideFileKind {
  /** The error code for this file's problems (CONFIG_INVALID, ADAPTER_INVALID, INDEX_INVALID). */
  readonly code: ErrorCode;
  /** Its size cap in bytes. */
  readonly maxBytes: number;
  /** What it is, for the message: "a config.json", "an index of tensor names". */
  readonly what: string;
  /** The fix to suggest after the message. */
  readonly advice?: string;
}

function refuse(kind: Pick<SideFileKind, "code" | "advice">, path: string, problem: string): TruecastError {
  return new TruecastError(kind.code, `${path}: ${problem}${kind.advice ? `; ${kind.advice}` : ""}`);
}

/**
 * Reads a side file as UTF-8 text, refusing it before reading if it is larger than `kind.maxBytes` (and
 * reading no more than that even if it grows meanwhile), or if it is not valid UTF-8. I/O errors propagate.
 */
export async function readSideFile(path: string, kind: SideFileKind): Promise<string> {
  const handle = await open(path, "r");
  let bytes: Buffer;
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw refuse(kind, path, "not a regular file");
    const size = info.size;
    if (size > kind.maxBytes) {
      throw refuse(kind, path, `${size} bytes, more than the ${kind.maxBytes} bytes ${kind.what} can need (truecast's limit)`);
    }
    bytes = Buffer.alloc(size + 1);
    let filled = 0;
    for (;;) {
      const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (filled > size) throw refuse(kind, path, `grew past its ${size} bytes while it was read`);
    }
    bytes = bytes.subarray(0, filled);
  } finally {
    await handle.close();
  }
  try {
    // A byte order mark is kept in the text (TextDecoder would drop it), so that the JSON reader can refuse it as
    // Python does.
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw refuse(kind, path, "not valid UTF-8");
  }
}

/**
 * {@link readSideFile} over a file opened elsewhere (a store's file, local or remote) whose size is known at open:
 * refused before reading if larger than `kind.maxBytes` or not valid UTF-8, with `path` naming it.
 */
export async function readSideFileFrom(file: RandomAccess, path: string, kind: SideFileKind): Promise<string> {
  if (file.size > kind.maxBytes) {
    throw refuse(kind, path, `${file.size} bytes, more than the ${kind.maxBytes} bytes ${kind.what} can need (truecast's limit)`);
  }
  const bytes = await file.read(0, file.size);
  if (bytes.length !== file.size) throw refuse(kind, path, `ends at byte ${bytes.length} of its ${file.size} (it shrank while it was read)`);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw refuse(kind, path, "not valid UTF-8");
  }
}

/** Refuses JSON text nested deeper than MAX_SIDE_FILE_DEPTH, naming the file. */
export function checkJsonDepth(text: string, path: string, kind: Pick<SideFileKind, "code" | "advice">): void {
  if (jsonNestingDepth(text, MAX_SIDE_FILE_DEPTH) > MAX_SIDE_FILE_DEPTH) {
    throw refuse(kind, path, `nested deeper than ${MAX_SIDE_FILE_DEPTH} levels (truecast's limit)`);
  }
}

/** Refuses YAML text nested (or indented) deeper than MAX_SIDE_FILE_DEPTH, naming the file. */
export function checkYamlDepth(text: string, path: string, kind: Pick<SideFileKind, "code" | "advice">): void {
  if (yamlNestingDepth(text, MAX_SIDE_FILE_DEPTH) > MAX_SIDE_FILE_DEPTH) {
    throw refuse(kind, path, `nested or indented deeper than ${MAX_SIDE_FILE_DEPTH} levels (truecast's limit)`);
  }
}

/**
 * The text with Python's JSON literals `NaN`, `Infinity` and `-Infinity` (outside strings) read as `null`, for
 * JSON.parse: Python's json (and so transformers and PEFT) accepts them, and truecast reads no key that holds one.
 * The file itself keeps them: edits are made on the original text (json-edit.ts).
 */
function pythonLiteralsAsNull(text: string): string {
  if (!/NaN|Infinity/.test(text)) return text;
  let out = "";
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
      continue;
    }
    const literal = text.startsWith("NaN", i) ? 3 : text.startsWith("Infinity", i) ? 8 : text.startsWith("-Infinity", i) ? 9 : 0;
    if (literal > 0) {
      out += text.slice(from, i) + "null";
      i += literal - 1;
      from = i + 1;
    }
  }
  return out + text.slice(from);
}

/**
 * JSON as Python's `json` reads it, behind the depth check: the value, or one error with `kind.code` naming the
 * file. `NaN`, `Infinity` and `-Infinity` are accepted (read as null); a UTF-8 byte order mark is refused, as
 * Python refuses it (transformers then calls the config "not a valid JSON file"). The size cap is `readSideFile`'s
 * job; text given here directly (tests, already-read files) is only depth-checked.
 */
export function parseSideJson(text: string, path: string, kind: Pick<SideFileKind, "code" | "advice">): unknown {
  if (text.charCodeAt(0) === 0xfeff) {
    throw refuse(kind, path, "starts with a UTF-8 byte order mark, which Python's json (and so transformers) refuses; save it as UTF-8 without a BOM");
  }
  checkJsonDepth(text, path, kind);
  try {
    return JSON.parse(pythonLiteralsAsNull(text)) as unknown;
  } catch (e) {
    throw refuse(kind, path, `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** config.json, generation_config.json: CONFIG_INVALID, capped at MAX_CONFIG_FILE_SIZE. */
export const CONFIG_FILE: SideFileKind = { code: "CONFIG_INVALID", maxBytes: MAX_CONFIG_FILE_SIZE, what: "a model config", advice: "fix or restore it" };
/** adapter_config.json: ADAPTER_INVALID, capped at MAX_CONFIG_FILE_SIZE. */
export const ADAPTER_CONFIG_FILE: SideFileKind = { code: "ADAPTER_INVALID", maxBytes: MAX_CONFIG_FILE_SIZE, what: "an adapter config" };
/** `*.index.json`: INDEX_INVALID, capped at MAX_INDEX_FILE_SIZE. */
export const INDEX_FILE: SideFileKind = {
  code: "INDEX_INVALID",
  maxBytes: MAX_INDEX_FILE_SIZE,
  what: "an index of tensor names",
  advice: "restore the index from where the shards came from",
};
/** cfg.yaml: CONFIG_INVALID, capped at MAX_YAML_CONFIG_SIZE. */
export const YAML_CONFIG_FILE: SideFileKind = { code: "CONFIG_INVALID", maxBytes: MAX_YAML_CONFIG_SIZE, what: "an H2O LLM Studio cfg.yaml", advice: "fix the experiment's cfg.yaml" };
