/**
 * `truecast export ... --push <repo>`: a ShardPublisher that uploads each shard to LFS storage as soon as the
 * export has written and verified it (the export then deletes it locally unless --keep-local), and at the end
 * uploads the small files, commits everything in one commit, and verifies the remote copy.
 */
import { lstat } from "node:fs/promises";
import { configName } from "../dtype/table.js";
import type { ExportReport, ShardPublisher } from "../export/export.js";
import { readSafetensorsHeader, type SafetensorsFileHeader } from "../formats/safetensors/read.js";
import type { PublishReport } from "./events.js";
import { fileChanged, identityOf } from "./file-identity.js";
import { listFolderFiles } from "./folder-files.js";
import { buildPublishReport } from "./summary.js";
import { verifyRemote } from "./remote-verify.js";
import type { UploadedFile, UploadSession } from "./upload-session.js";

export interface ExportPublisher extends ShardPublisher {
  /** The publish report, once `finish` has run. */
  result(): PublishReport | null;
}

/** What goes into the commit besides the files: its description and the revision's files it deletes. */
export interface CommitExtras {
  description?: string;
  deleted?: readonly string[];
  /** Pickles of the revision left in place (named in the report: `--replace-weights` would delete them). */
  keptPickles?: readonly string[];
}

/** The ShardPublisher of `export --push`: each verified shard is uploaded at once, the commit is made at the end. */
export function createExportPublisher(params: {
  session: UploadSession;
  keepLocal: boolean;
  commitMessage?: string;
  /** Called after the last upload, right before the commit (see replace-weights.ts, pr-description.ts). */
  beforeCommit?: (dir: string, exported: ExportReport, files: readonly UploadedFile[]) => Promise<CommitExtras>;
}): ExportPublisher {
  const { session } = params;
  const uploaded = new Map<string, UploadedFile>();
  const headers = new Map<string, SafetensorsFileHeader>();
  let report: PublishReport | null = null;
  return {
    keepLocal: params.keepLocal,
    async shard(path, fileName) {
      // The shard as the export wrote and verified it: the upload reads only this file (not one put in its place).
      const own = await lstat(path);
      if (!own.isFile()) throw fileChanged(path, "it is no longer the regular file the export wrote");
      headers.set(fileName, await readSafetensorsHeader(path));
      try {
        uploaded.set(fileName, await session.uploadFile(path, fileName, { expect: identityOf(own) }));
      } catch (e) {
        throw session.fail(e, `uploading ${fileName}`);
      }
    },
    async finish(dir: string, exported: ExportReport) {
      for (const f of await listFolderFiles(dir)) {
        if (uploaded.has(f.pathInRepo)) continue;
        if (f.pathInRepo.endsWith(".safetensors")) headers.set(f.pathInRepo, await readSafetensorsHeader(f.localPath));
        try {
          uploaded.set(f.pathInRepo, await session.uploadFile(f.localPath, f.pathInRepo, { expect: f.identity }));
        } catch (e) {
          throw session.fail(e, `uploading ${f.pathInRepo}`);
        }
      }
      const files = [...uploaded.values()];
      const extras = (await params.beforeCommit?.(dir, exported, files)) ?? {};
      const commit = await session.commit(files, {
        summary: params.commitMessage ?? `Upload ${session.repoId.split("/").pop() ?? "model"} with truecast`,
        ...(extras.description !== undefined ? { description: extras.description } : {}),
        ...(extras.deleted ? { deleted: extras.deleted } : {}),
      });
      let verified;
      try {
        verified = await verifyRemote({ target: session.target, commit: commit.oid, files, headers });
      } catch (e) {
        throw session.fail(e, `verifying ${session.repoId}@${commit.oid}`);
      }
      report = buildPublishReport({ session, commit, files, verified, dtype: exported.dtype ? configName(exported.dtype) : null, problems: [], deleted: extras.deleted ?? [], keptPickles: extras.keptPickles ?? [] });
    },
    result: () => report,
  };
}
