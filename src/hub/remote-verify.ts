/**
 * After the commit: the remote tree at the new commit is listed and compared with the local files (paths,
 * sizes, LFS sha256 or git blob ids), and each remote safetensors header is read with two range requests
 * (the 8-byte length, then the header) and compared, tensor by tensor, with the local one.
 */
import { TruecastError } from "../errors.js";
import { parseHeader } from "../formats/safetensors/header.js";
import { HEADER_LENGTH_PREFIX, MAX_HEADER_SIZE, type SafetensorsHeader } from "../formats/safetensors/spec.js";
import { gitBlobOidFile } from "./file-hash.js";
import { listTree, type TreeFile } from "./list-tree.js";
import type { HubTarget } from "./repo-setup.js";
import type { UploadedFile } from "./upload-session.js";

export interface RemoteVerification {
  files: number;
  shardsBitExact: number;
  extraRemoteFiles: string[];
}

function mismatch(what: string): TruecastError {
  return new TruecastError("HUB_VERIFY", `${what}; the published copy is not what was uploaded: publish again, and report it if it repeats`);
}

function resolveUrl(t: HubTarget, commit: string, path: string): string {
  return `${t.endpoint}/${t.repo.full}/resolve/${commit}/${path.split("/").map(encodeURIComponent).join("/")}`;
}

/** Bytes [start, start + length) of a remote file, whether the server answers 206 or the whole file with 200. */
async function readRange(t: HubTarget, url: string, start: number, length: number, label: string): Promise<Uint8Array> {
  const res = await t.fetch(url, { headers: { Range: `bytes=${start}-${start + length - 1}` } });
  if (res.status !== 206 && res.status !== 200) {
    await res.body?.cancel();
    throw mismatch(`reading ${label} from the Hub answered HTTP ${res.status}`);
  }
  const skip = res.status === 200 ? start : 0;
  const out = new Uint8Array(length);
  let pos = 0;
  let seen = 0;
  const reader = res.body?.getReader();
  while (reader && pos < length) {
    const { done, value } = await reader.read();
    if (done) break;
    const from = Math.max(0, skip - seen);
    seen += value.byteLength;
    if (from >= value.byteLength) continue;
    const take = value.subarray(from, from + (length - pos));
    out.set(take, pos);
    pos += take.byteLength;
  }
  await reader?.cancel().catch(() => undefined);
  if (pos !== length) throw mismatch(`${label} on the Hub ended after ${pos} of ${length} bytes`);
  return out;
}

async function remoteHeader(t: HubTarget, commit: string, path: string, size: number): Promise<SafetensorsHeader> {
  const label = `${t.repo.full}/${path}`;
  const url = resolveUrl(t, commit, path);
  const prefix = await readRange(t, url, 0, HEADER_LENGTH_PREFIX, label);
  const n = new DataView(prefix.buffer, prefix.byteOffset, HEADER_LENGTH_PREFIX).getBigUint64(0, true);
  if (n > BigInt(Math.min(MAX_HEADER_SIZE, size))) throw mismatch(`${label}: the remote header length ${n} is impossible for a ${size}-byte file`);
  const headerBytes = await readRange(t, url, HEADER_LENGTH_PREFIX, Number(n), label);
  try {
    return parseHeader({ prefix, headerBytes, fileSize: size, file: label });
  } catch (e) {
    throw mismatch(`${label}: the remote header does not parse (${e instanceof Error ? e.message : String(e)})`);
  }
}

function compareHeaders(label: string, local: SafetensorsHeader, remote: SafetensorsHeader): void {
  if (local.headerSize !== remote.headerSize) throw mismatch(`${label}: header is ${remote.headerSize} bytes on the Hub, ${local.headerSize} locally`);
  if (local.entries.length !== remote.entries.length) throw mismatch(`${label}: ${remote.entries.length} tensors on the Hub, ${local.entries.length} locally`);
  local.entries.forEach((l, i) => {
    const r = remote.entries[i];
    if (!r || r.name !== l.name) throw mismatch(`${label}: tensor ${l.name} is missing or out of place on the Hub`);
    if (r.dtype !== l.dtype) throw mismatch(`${label}: tensor ${l.name} is ${r.dtype} on the Hub, ${l.dtype} locally`);
    if (r.shape.join(",") !== l.shape.join(",")) throw mismatch(`${label}: tensor ${l.name} has shape [${r.shape.join(", ")}] on the Hub, [${l.shape.join(", ")}] locally`);
    if (r.begin !== l.begin || r.end !== l.end) throw mismatch(`${label}: tensor ${l.name} is at [${r.begin}, ${r.end}) on the Hub, [${l.begin}, ${l.end}) locally`);
  });
  if (JSON.stringify(local.metadata) !== JSON.stringify(remote.metadata)) throw mismatch(`${label}: __metadata__ differs between the Hub and the local file`);
}

export async function verifyRemote(params: {
  target: HubTarget;
  commit: string;
  files: readonly UploadedFile[];
  headers: ReadonlyMap<string, SafetensorsHeader>;
}): Promise<RemoteVerification> {
  const { target: t, commit } = params;
  const remote = new Map<string, TreeFile>();
  for (const e of await listTree(t, commit)) remote.set(e.path, e);
  let shardsBitExact = 0;
  for (const f of params.files) {
    const r = remote.get(f.pathInRepo);
    const label = `${t.repo.full}/${f.pathInRepo}`;
    if (!r) throw mismatch(`${label} is missing from commit ${commit}`);
    if (r.size !== f.size) throw mismatch(`${label} is ${r.size} bytes on the Hub, ${f.size} locally`);
    if (r.lfs) {
      if (r.lfs.oid !== f.oid || r.lfs.size !== f.size) throw mismatch(`${label} has sha256 ${r.lfs.oid} on the Hub, ${f.oid} locally`);
    } else {
      const local = f.gitOid ?? (await gitBlobOidFile(f.localPath, f.size));
      if (r.oid !== local) throw mismatch(`${label} has git blob id ${r.oid ?? "none"} on the Hub, ${local} locally`);
    }
    const header = params.headers.get(f.pathInRepo);
    if (header) {
      compareHeaders(label, header, await remoteHeader(t, commit, f.pathInRepo, f.size));
      shardsBitExact++;
    }
  }
  const local = new Set(params.files.map((f) => f.pathInRepo));
  const extraRemoteFiles = [...remote.keys()].filter((p) => !local.has(p) && p !== ".gitattributes").sort();
  return { files: params.files.length, shardsBitExact, extraRemoteFiles };
}
