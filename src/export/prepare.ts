/**
 * What an export settles before it writes its first byte: the shard plan (and the sidecars' own shards), the
 * carried files checked, the paths the output must not overlap, and the bytes the output needs on disk. The real
 * run (export.ts) and `--dry-run` (dry-run.ts) both start here, so a dry run shows exactly the plan the real run
 * then writes.
 */
import { isHubSpec } from "../store/hub-spec.js";
import type { SourceModel } from "../sources/tensor-ref.js";
import type { ProtectedPath } from "../util/real-path.js";
import { checkCarriedFiles } from "./carried-files.js";
import { planExport, type DtypePolicy, type ExportPlan, type PlannedShard } from "./plan.js";
import { TruecastError } from "../errors.js";

export interface PrepareExportParams {
  readonly model: SourceModel;
  readonly policy: DtypePolicy;
  readonly maxShardSize?: number;
  /** The user's model card (copied as README.md). */
  readonly cardFile?: string;
  readonly baseDir?: string;
  readonly adapter?: string;
  /** More inputs the output must not overlap (see ExportParams.protect). */
  readonly protect?: readonly ProtectedPath[];
  /** Shards are uploaded and deleted as they are written (export --push without --keep-local). */
  readonly shardsLeave?: boolean;
}

export interface PreparedExport {
  readonly plan: ExportPlan;
  /** One shard each, under the sidecar's own file name (an H2O classification head). */
  readonly sidecars: readonly PlannedShard[];
  /** Bytes of the carried files and the user's model card, as they are now. */
  readonly carriedBytes: number;
  /** Every input the output must not overlap: the source, base, adapter, card, carried files and `protect`. */
  readonly protect: readonly ProtectedPath[];
  /** Bytes the output needs on disk at its peak (two shards at a time when shards leave as they are written). */
  readonly needed: number;
}

/** A sidecar (e.g. an H2O classification head) is planned as one shard under its own file name. */
function sidecarShard(fileName: string, plan: ExportPlan): PlannedShard {
  const only = plan.shards[0];
  if (!only) throw new TruecastError("INTERNAL", `no plan for ${fileName}`);
  return only;
}

/** Plan the shards and check every carried file (inside its folder, readable); reads no tensor byte, writes nothing. */
export async function prepareExport(p: PrepareExportParams): Promise<PreparedExport> {
  const { model, policy } = p;
  const plan = planExport({ tensors: model.tensors, policy, ...(p.maxShardSize ? { maxShardSize: p.maxShardSize } : {}) });
  const sidecars = [...(model.sidecars ?? [])].map(([fileName, tensors]) => sidecarShard(fileName, planExport({ tensors, policy, fileName })));
  const carried = await checkCarriedFiles(model.files, p.cardFile);
  const protect: ProtectedPath[] = [
    ...(isHubSpec(model.path) ? [] : [{ path: model.path, what: "source" }]),
    ...(p.baseDir !== undefined ? [{ path: p.baseDir, what: "base model folder" }] : []),
    ...(p.adapter !== undefined ? [{ path: p.adapter, what: "adapter" }] : []),
    ...(p.cardFile !== undefined ? [{ path: p.cardFile, what: "model card" }] : []),
    ...(p.protect ?? []),
    ...[...model.files.values()].map((path) => ({ path, what: "carried file" })),
  ];
  const biggest = Math.max(0, ...plan.shards.map((s) => s.fileSize));
  const sidecarBytes = sidecars.reduce((n, s) => n + s.fileSize, 0);
  const needed = (p.shardsLeave === true ? Math.min(plan.totalFileSize, 2 * biggest) : plan.totalFileSize) + sidecarBytes + carried.bytes;
  return { plan, sidecars, carriedBytes: carried.bytes, protect, needed };
}
