/**
 * The legacy `torch.save` format (torch < 1.6, or `_use_new_zipfile_serialization=False`): five pickles one
 * after another (magic number, protocol version, system info, the object, the sorted storage keys), then each
 * storage in that order as an 8-byte little-endian element count followed by its bytes. The pickles are read
 * with the same restricted unpickler; storages stay in the file, located by walking their headers.
 */
import { TruecastError } from "../../errors.js";
import { END_OF_INPUT } from "../pickle/cursor.js";
import { unpickleAt, type UnpickleHooks } from "../pickle/unpickler.js";
import type { PickleValue } from "../pickle/values.js";
import type { RandomAccess } from "../zip.js";
import { torchHooks, type TorchStorage } from "./rebuild.js";

/** torch's legacy magic number and the one protocol version it writes. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;

/** The pickles are read from a window of the file that starts at this size and doubles while a pickle runs past it. */
const FIRST_WINDOW_BYTES = 1024 * 1024;

/** Each storage record starts with its element count, 8 bytes little-endian. */
const STORAGE_HEADER_BYTES = 8;

/** Plain values only: the three header pickles and the key list call nothing. */
const PLAIN: UnpickleHooks = {
  isAllowed: () => false,
  call: () => null,
};

function invalid(fileName: string, what: string): TruecastError {
  return new TruecastError("TORCH_INVALID", `${fileName}: ${what}; the legacy-format checkpoint is damaged or truncated`);
}

interface Parsed {
  value: PickleValue;
  keys: string[];
  storages: ReadonlyMap<string, TorchStorage>;
  /** Offset just past the last pickle: where the first storage record starts. */
  dataStart: number;
}

export interface ReadLegacyParams {
  readonly file: RandomAccess;
  readonly fileName: string;
  /** The object pickle may not be larger than this. */
  readonly maxPickleBytes: number;
  /** First window read for the pickles; default {@link FIRST_WINDOW_BYTES} (tests make it small). */
  readonly firstWindowBytes?: number;
}

function parsePickles(bytes: Uint8Array, fileName: string, maxPickleBytes: number): Parsed {
  const plain = (offset: number) => unpickleAt({ bytes, fileName, hooks: PLAIN, offset });
  const magic = plain(0);
  if (BigInt(typeof magic.value === "number" || typeof magic.value === "bigint" ? magic.value : -1) !== LEGACY_MAGIC) {
    throw invalid(fileName, "it does not start with torch's magic number");
  }
  const version = plain(magic.end);
  if (version.value !== LEGACY_PROTOCOL_VERSION) throw invalid(fileName, `its protocol version is ${String(version.value)}, not ${LEGACY_PROTOCOL_VERSION}`);
  const sysInfo = plain(version.end);
  if (sysInfo.value instanceof Map && sysInfo.value.get("little_endian") === false) {
    throw new TruecastError(
      "TORCH_INVALID",
      `${fileName} was saved on a big-endian machine; truecast reads little-endian checkpoints only: load it with torch and ` +
        "re-save it on a little-endian (x86 or ARM) machine",
    );
  }
  // Storage offsets are known only once the key list is read: every storage starts unlocated (NaN).
  const hooks = torchHooks({ fileName, legacy: true, locate: (_key, byteLength) => ({ byteOffset: Number.NaN, byteLength }) });
  const main = unpickleAt({ bytes, fileName, hooks, offset: sysInfo.end });
  if (main.end > maxPickleBytes) throw invalid(fileName, `its object pickle is over ${maxPickleBytes} bytes`);
  const keyList = plain(main.end);
  if (!Array.isArray(keyList.value) || !keyList.value.every((k: PickleValue) => typeof k === "string")) {
    throw invalid(fileName, "its storage key list is not a list of strings");
  }
  return { value: main.value, keys: keyList.value as string[], storages: hooks.storages, dataStart: keyList.end };
}

/** Parse the pickles, reading a growing window of the file until they fit. */
async function readPickles(params: ReadLegacyParams): Promise<Parsed> {
  const { file, fileName, maxPickleBytes } = params;
  for (let window = Math.min(file.size, params.firstWindowBytes ?? FIRST_WINDOW_BYTES); ; window = Math.min(file.size, window * 2)) {
    const bytes = await file.read(0, window);
    try {
      return parsePickles(bytes, fileName, maxPickleBytes);
    } catch (e) {
      const short = e instanceof TruecastError && e.cause === END_OF_INPUT;
      if (!short || window >= file.size) throw e;
      if (window >= maxPickleBytes) throw invalid(fileName, `its pickles take more than ${maxPickleBytes} bytes`);
    }
  }
}

/** Read a legacy-format checkpoint's structure; tensor bytes stay in the file. */
export async function readLegacyCheckpoint(params: ReadLegacyParams): Promise<PickleValue> {
  const { file, fileName } = params;
  const parsed = await readPickles(params);
  let pos = parsed.dataStart;
  for (const key of parsed.keys) {
    const storage = parsed.storages.get(key);
    if (storage === undefined) throw invalid(fileName, `storage "${key}" is listed but no tensor uses it, so its element size is unknown`);
    const head = await file.read(pos, STORAGE_HEADER_BYTES);
    if (head.length < STORAGE_HEADER_BYTES) throw invalid(fileName, `the file ends before storage "${key}" at byte ${pos}`);
    const count = new DataView(head.buffer, head.byteOffset, STORAGE_HEADER_BYTES).getBigUint64(0, true);
    const want = BigInt(storage.byteLength / storage.element.itemSize);
    if (count !== want) throw invalid(fileName, `storage "${key}" at byte ${pos} holds ${count} elements, but its tensors say ${want}`);
    const byteOffset = pos + STORAGE_HEADER_BYTES;
    if (byteOffset + storage.byteLength > file.size) throw invalid(fileName, `the file ends inside storage "${key}"`);
    // The descriptor was built before its place was known; this is the one write to it.
    (storage as { byteOffset: number }).byteOffset = byteOffset;
    pos = byteOffset + storage.byteLength;
  }
  for (const [key, s] of parsed.storages) {
    if (Number.isNaN(s.byteOffset)) throw invalid(fileName, `storage "${key}" is used by a tensor but missing from the storage list`);
  }
  return parsed.value;
}
