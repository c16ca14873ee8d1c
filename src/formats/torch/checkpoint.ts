/**
 * Open a `torch.save` checkpoint (the zip format of torch ≥ 1.6): find the archive's `data.pkl`, check the
 * byte order, and unpickle it with the restricted unpickler into inert storage and tensor descriptors.
 * The legacy format (torch < 1.6) is read too (legacy.ts); the legacy tar format and anything else are refused.
 */
import { TruecastError } from "../../errors.js";
import { collectPickle, type CollectedPickle } from "../pickle/collect.js";
import { unpickle } from "../pickle/unpickler.js";
import type { PickleValue } from "../pickle/values.js";
import { readZipDirectory, storedRange, type RandomAccess, type ZipEntry } from "../zip.js";
import { readLegacyCheckpoint } from "./legacy.js";
import { torchHooks } from "./rebuild.js";

/**
 * data.pkl of a state dict is a few MB at most (it holds names and shapes, not weights: 15 MB for 100,000 tensors);
 * larger is refused before it is read, since the unpickle budget (HEAP_CEILING) leaves it no room to build anything.
 */
export const MAX_PICKLE_BYTES = 64 * 1024 * 1024;

/**
 * Records a zip checkpoint may hold per byte of its data.pkl, and beside them: each storage record is named by a
 * persistent id in the pickle, which takes at least 16 bytes even hand-made (torch writes 25 or more), and torch adds
 * a few records of its own (data.pkl, version, byteorder, .data/serialization_id, ...). More records than that
 * cannot all be storages the pickle uses.
 */
export const PICKLE_BYTES_PER_RECORD = 16;
export const RECORDS_BESIDE_STORAGES = 16;

/** The records the reader needs: data.pkl, the storages, byteorder (at the root or in the archive's folder). */
function isCheckpointRecord(name: string): boolean {
  return name.endsWith("data.pkl") || /^([^/]+\/)?(data\/|byteorder$)/.test(name);
}

/** torch's legacy magic number 0x1950a86a20f9469cfc6c, as pickle's LONG1 stores it (little-endian). */
const LEGACY_MAGIC = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const LEGACY_MAGIC_DECIMAL = "119547037146038801333356";

export type TorchFileFormat = "zip" | "legacy" | "legacy-tar" | "unknown";

/** Recognize a checkpoint by its first bytes (at least 512 of them when the file has them). */
export function detectTorchFormat(head: Uint8Array): TorchFileFormat {
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5) && (head[3] === 4 || head[3] === 6)) return "zip";
  let at = head[0] === 0x80 ? 2 : 0; // PROTO n
  if (head[at] === 0x95) at += 9; // FRAME (protocol 4+)
  if (LEGACY_MAGIC.every((b, i) => head[at + i] === b)) return "legacy";
  const text = new TextDecoder("latin1").decode(head.subarray(0, 40));
  if (text.startsWith(`L${LEGACY_MAGIC_DECIMAL}L\n`)) return "legacy";
  if (new TextDecoder("latin1").decode(head.subarray(257, 262)) === "ustar") return "legacy-tar";
  return "unknown";
}

export interface TorchCheckpoint {
  /** What `torch.load` would return, with tensors as descriptors. */
  readonly value: PickleValue;
  /** The archive's folder (`archive/`, `checkpoint/`, ...), with its trailing slash; "" for the legacy format. */
  readonly prefix: string;
  readonly format: "zip" | "legacy";
}

function legacyTarError(fileName: string): TruecastError {
  return new TruecastError(
    "TORCH_LEGACY",
    `${fileName} is in the legacy PyTorch tar format (torch ≤ 0.3), which truecast does not read; load it with torch ` +
      "and re-save it with torch.save(obj, path) on torch ≥ 1.6",
  );
}

/** The folder holding data.pkl: torch names it after the file, so it varies. */
function findPrefix(fileName: string, entries: ReadonlyMap<string, ZipEntry>): string {
  const candidates = [...entries.keys()].filter((n) => n === "data.pkl" || n.endsWith("/data.pkl"));
  const top = candidates.filter((n) => n.split("/").length <= 2);
  const pick = top.length === 1 ? top[0] : undefined;
  if (pick === undefined) {
    throw new TruecastError(
      "TORCH_INVALID",
      top.length === 0
        ? `${fileName} is a zip but holds no data.pkl; it is not a PyTorch checkpoint`
        : `${fileName} holds ${top.length} data.pkl records (${top.join(", ")}); a PyTorch checkpoint has one`,
    );
  }
  return pick.slice(0, pick.length - "data.pkl".length);
}

/** Refuse more records than the archive's data.pkl can name (when it has one data.pkl; else findPrefix says why). */
function checkRecordCount(fileName: string, count: number, kept: Iterable<string>, sizeOf: (name: string) => bigint): void {
  const pkls: string[] = [];
  for (const n of kept) if ((n === "data.pkl" || n.endsWith("/data.pkl")) && n.split("/").length <= 2) pkls.push(n);
  if (pkls.length !== 1) return;
  const size = sizeOf(pkls[0] as string);
  const most = BigInt(RECORDS_BESIDE_STORAGES) + size / BigInt(PICKLE_BYTES_PER_RECORD);
  if (BigInt(count) > most) {
    throw new TruecastError(
      "ZIP_INVALID",
      `${fileName}: it holds ${count} records, more than the ${most} a checkpoint whose data.pkl has ${size} bytes can use ` +
        `(one per storage, each named in at least ${PICKLE_BYTES_PER_RECORD} bytes of data.pkl); the file is damaged or not a PyTorch checkpoint`,
    );
  }
}

async function readRecord(file: RandomAccess, fileName: string, entry: ZipEntry): Promise<Uint8Array> {
  const { offset, length } = storedRange(fileName, entry);
  const bytes = await file.read(offset, length);
  if (bytes.length !== length) throw new TruecastError("ZIP_INVALID", `${fileName}: the file ends inside record "${entry.name}"; it is truncated`);
  return bytes;
}

/** Read a checkpoint's structure. Tensor bytes stay in the file; their offsets are in the descriptors. */
export async function readTorchCheckpoint(params: { file: RandomAccess; fileName: string }): Promise<TorchCheckpoint> {
  const { file, fileName } = params;
  const head = await file.read(0, Math.min(file.size, 512));
  const format = detectTorchFormat(head);
  if (format === "legacy-tar") throw legacyTarError(fileName);
  if (format === "legacy") {
    return { value: await readLegacyCheckpoint({ file, fileName, maxPickleBytes: MAX_PICKLE_BYTES }), prefix: "", format };
  }
  if (format === "unknown") {
    throw new TruecastError(
      "TORCH_INVALID",
      `${fileName} is neither a PyTorch checkpoint (a torch.save zip) nor the legacy PyTorch format; check that it is the right file`,
    );
  }
  const { bytes, hooks, prefix } = await readZipPickle(file, fileName);
  return { value: unpickle({ bytes, fileName, hooks }), prefix, format };
}

/** A zip checkpoint's data.pkl bytes and the hooks that locate its storages (byte order checked). */
async function readZipPickle(file: RandomAccess, fileName: string): Promise<{ bytes: Uint8Array; hooks: ReturnType<typeof torchHooks>; prefix: string }> {
  const { entries } = await readZipDirectory({ file, fileName, keep: isCheckpointRecord, checkCount: (count, kept, sizeOf) => checkRecordCount(fileName, count, kept, sizeOf) });
  const prefix = findPrefix(fileName, entries);
  const order = entries.get(`${prefix}byteorder`);
  if (order !== undefined) {
    const text = new TextDecoder().decode(await readRecord(file, fileName, order)).trim();
    if (text === "big") {
      throw new TruecastError(
        "TORCH_INVALID",
        `${fileName} was saved on a big-endian machine; truecast reads little-endian checkpoints only: ` +
          "load it with torch and re-save it on a little-endian (x86 or ARM) machine",
      );
    }
    if (text !== "little") throw new TruecastError("TORCH_INVALID", `${fileName}: its byteorder record says "${text}", not "little" or "big"`);
  }
  const pkl = entries.get(`${prefix}data.pkl`) as ZipEntry;
  if (pkl.uncompressedSize > BigInt(MAX_PICKLE_BYTES)) {
    throw new TruecastError("TORCH_INVALID", `${fileName}: its data.pkl has ${pkl.uncompressedSize} bytes, more than the ${MAX_PICKLE_BYTES} a state dict needs`);
  }
  const bytes = await readRecord(file, fileName, pkl);
  const hooks = torchHooks({
    fileName,
    locate: (key) => {
      const e = entries.get(`${prefix}data/${key}`);
      if (e === undefined) return null;
      const { offset, length } = storedRange(fileName, e);
      return { byteOffset: offset, byteLength: length };
    },
  });
  return { bytes, hooks, prefix };
}

/** What {@link scanTorchCheckpoint} found: the globals the pickle names, and what it describes. */
export interface TorchCheckpointScan {
  readonly format: "zip" | "legacy";
  /** For the zip format; the legacy format is read strictly (its globals are not listed). */
  readonly collected: CollectedPickle;
}

/**
 * Reads a checkpoint's pickle in collecting mode (pickle/collect.ts): every global it names is listed with whether
 * torch's rebuild allowlist honours it, and the tensors are described even when the pickle also names globals
 * outside it. Nothing is executed. A file that is not a checkpoint at all still throws.
 */
export async function scanTorchCheckpoint(params: { file: RandomAccess; fileName: string }): Promise<TorchCheckpointScan> {
  const { file, fileName } = params;
  const head = await file.read(0, Math.min(file.size, 512));
  const format = detectTorchFormat(head);
  if (format === "legacy-tar") throw legacyTarError(fileName);
  if (format === "legacy") {
    try {
      const value = await readLegacyCheckpoint({ file, fileName, maxPickleBytes: MAX_PICKLE_BYTES });
      return { format, collected: { globals: [], value, problem: null } };
    } catch (e) {
      if (!(e instanceof TruecastError) || !e.code.startsWith("PICKLE_")) throw e;
      return { format, collected: { globals: [], value: null, problem: e } };
    }
  }
  if (format === "unknown") {
    throw new TruecastError("TORCH_INVALID", `${fileName} is neither a PyTorch checkpoint (a torch.save zip) nor the legacy PyTorch format`);
  }
  const { bytes, hooks } = await readZipPickle(file, fileName);
  return { format, collected: collectPickle({ bytes, fileName, hooks }) };
}

