import { open, rm, writeFile } from "node:fs/promises";
import { TruecastError } from "../errors.js";
import { serializeIndex } from "../formats/safetensors/index-file.js";
import { dtypeLabel, parseFloatDType } from "../dtype/table.js";
import { openSource, type OpenSourceOptions } from "../sources/open.js";
import { openForExport } from "./open-for-export.js";
import type { SourceModel } from "../sources/tensor-ref.js";
import { censusDtypes } from "./config.js";
import { CastPool } from "./cast-pool.js";
import type { PassFile } from "./hash-protocol.js";
import { RangeHasher } from "./hasher.js";
import type { ProtectedPath } from "../util/real-path.js";
import { StagedOutput } from "./output-dir.js";
import type { DtypePolicy, ExportPlan, PlannedShard } from "./plan.js";
import { prepareExport } from "./prepare.js";
import { buildReport, conversionSummaries, type ExportReport } from "./report.js";
import { checkConfigAfterWrite, REPORT_FILE, writeSmallFiles, type ModelCardOptions } from "./small-files.js";
import { hubCacheRoot, publicName, scrubPaths } from "./provenance.js";
import { writeReportJsonBytes } from "./report-json.js";
import { startSourceDigests, waitForDigests, type SourceDigests } from "./source-digests.js";
import { DigestCache } from "./digest-cache.js";
import { cacheInside } from "../util/truecast-cache.js";
import type { LoraReport } from "../transforms/lora/index.js";
import { VERIFY_BATCH_BYTES, VERIFY_BATCH_TENSORS, verifyFolder, verifyShardHeader, verifyTensors, type VerifyItem } from "./verify.js";
import { BufferPool } from "./buffer-pool.js";
import { writeShard } from "./write-shard.js";
import { exportFingerprint } from "./resume-fingerprint.js";
import { restoreShard, shardRecord, type RestoredShard, type ShardRecord } from "./shard-record.js";
import { WrittenTensors, type WrittenShard } from "./written.js";

export type { ConversionSummary, ExportReport } from "./report.js";

export type ExportEvent =
  | { readonly type: "plan"; readonly plan: ExportPlan; readonly model: SourceModel }
  | { readonly type: "write"; readonly bytes: number; readonly total: number; readonly file: string }
  | { readonly type: "verify"; readonly bytes: number; readonly total: number }
  /** Only once the weights are written and the source files' SHA-256 is still being computed (see source-digests.ts). */
  | { readonly type: "hash-sources"; readonly bytes: number; readonly total: number }
  | { readonly type: "done" };

/** A written shard's SHA-256 and the file it is the hash of (device, inode, size, mtime and ctime after the last write). */
export interface HashedShard {
  readonly sha256: string;
  readonly file: PassFile;
}

/**
 * Receives each shard as soon as it is written and verified (to upload it), then the finished folder.
 * Used by `export --push`: with `keepLocal` false each shard is deleted once `shard` resolves, so the
 * export needs free disk for about two shards, not the whole model.
 */
export interface ShardPublisher {
  readonly keepLocal: boolean;
  /**
   * Before the first shard: given the run's fingerprint (resume-fingerprint.ts) and plan, the shards an earlier,
   * interrupted run with the same fingerprint already put on the Hub, each with the record of its tensors that run
   * made (shard-record.ts); none with `keepLocal` (its folder needs every shard). The export takes each whose record
   * fits its planned shard: it neither reads, writes nor uploads it, and calls `reuse` instead of `shard` for it.
   * `out` is the output folder (renamed into place at the end: nothing may be written inside it meanwhile).
   */
  resume?(run: { fingerprint: string; plan: ExportPlan; out: string }): Promise<ReadonlyMap<string, unknown>>;
  /** A shard taken from an earlier run (see `resume`): to be committed as the Hub stores it. */
  reuse?(shard: PlannedShard): void;
  /**
   * A shard written and verified (`record` describes its tensors, for a later resume); uploaded before it resolves.
   * `hashed` is its SHA-256 (the LFS oid), taken in the reads that verified it, and the file those reads found
   * unchanged since its last byte was written: an upload of that file needs no second read to hash it.
   */
  shard(path: string, fileName: string, record?: ShardRecord, hashed?: HashedShard): Promise<void>;
  /** Called with the staging folder once everything is written and verified, before it is moved into place or removed. */
  finish(dir: string, report: ExportReport): Promise<void>;
}

export interface ExportParams extends OpenSourceOptions {
  /** Path of the source; ignored when `model` is given. */
  readonly source: string;
  /** An already opened (or transformed) source, e.g. a LoRA merge. Closed by the export. */
  readonly model?: SourceModel;
  readonly out: string;
  /**
   * dtype of floating tensors in the output: `keep` (default: copy the bytes), or a dtype by the name the CLI takes
   * (`bfloat16`, `float16`, `float32`; `bf16`, `fp16`, `torch.bfloat16` and the internal `BF16` work too).
   */
  readonly dtype?: DtypePolicy | string;
  /**
   * A PEFT LoRA adapter folder to merge into the source (in float32, rounded once). When `model` is given (already
   * merged), it only names the adapter in the card and the report.
   */
  readonly adapter?: string;
  /** The report of the LoRA merge that made `model`, for truecast-report.json (set by the export itself with `adapter`). */
  readonly lora?: LoraReport;
  /** Default 5 GB. */
  readonly maxShardSize?: number;
  readonly allowOverflow?: boolean;
  readonly force?: boolean;
  /** README.md: generated (default), the user's file, or none (false). */
  readonly modelCard?: ModelCardOptions | false;
  readonly publisher?: ShardPublisher;
  /**
   * Other inputs of the run that the output must not overlap; the source, `baseDir`, `adapter`, the model card and
   * every carried file are always protected.
   */
  readonly protect?: readonly ProtectedPath[];
  /**
   * Look up and record the SHA-256 of local source files in truecast's digest cache (`$TRUECAST_CACHE/digests`, from
   * `env`; see export/digest-cache.ts), so that re-exporting an unchanged file does not read it again. Default true.
   */
  readonly digestCache?: boolean;
  /** Free bytes where a folder lives (for tests); default statfs. */
  readonly freeBytes?: (dir: string) => Promise<number>;
  readonly onEvent?: (e: ExportEvent) => void;
  readonly signal?: AbortSignal;
}

/** The dtype policy from a user's spelling; a name that is no floating dtype is a usage error. */
export function dtypePolicy(name: string | undefined): DtypePolicy {
  if (name === undefined || name === "keep") return "keep";
  const d = parseFloatDType(name);
  if (d === null) throw new TruecastError("USAGE", `dtype ${JSON.stringify(name)} is not one of keep, bfloat16, float16, float32`);
  return d;
}

function checkAbort(signal?: AbortSignal): void {
  if (!signal?.aborted) return;
  const by = typeof signal.reason === "string" && signal.reason.startsWith("SIG") ? ` by ${signal.reason}` : "";
  throw new TruecastError("INTERNAL", `interrupted${by}; nothing was written`);
}

/**
 * The planned shards an interrupted run already published (see {@link ShardPublisher.resume}), restored from their
 * records; a record that does not fit its planned shard is dropped (the shard is produced again).
 */
async function resumeShards(p: { params: ExportParams; model: SourceModel; plan: ExportPlan; policy: DtypePolicy }): Promise<Map<string, RestoredShard>> {
  const out = new Map<string, RestoredShard>();
  const publisher = p.params.publisher;
  if (!publisher?.resume) return out;
  const inputs = [p.params.source, p.params.adapter, p.params.baseDir].filter((x): x is string => x !== undefined);
  const fingerprint = await exportFingerprint({ model: p.model, plan: p.plan, policy: p.policy, inputs });
  const records = await publisher.resume({ fingerprint, plan: p.plan, out: p.params.out });
  if (publisher.keepLocal) return out;
  for (const shard of p.plan.shards) {
    const record = records.get(shard.fileName);
    const restored = record === undefined ? null : restoreShard(shard, record);
    if (restored) out.set(shard.fileName, restored);
  }
  return out;
}

/** Rows `from`..`to` of a written shard as items to verify, with their file ranges (name and digest read when asked). */
function rowItems(written: WrittenShard, from: number, to: number): VerifyItem[] {
  const { table, headerSize } = written.shard;
  const items: VerifyItem[] = [];
  for (let k = from; k < to; k++) {
    const tensor = {
      get name() {
        return table.name(k);
      },
      get digest() {
        return written.digest(k);
      },
    };
    items.push({ tensor, range: { start: headerSize + table.begin(k), length: table.end(k) - table.begin(k) } });
  }
  return items;
}

/**
 * Finish a shard's whole-file SHA-256 (the reads that verified its tensors, in file order, fed it; the bytes after
 * the last tensor are read now) and check that those reads found the file the writer left: same device and inode,
 * size, mtime and ctime as fstat gave on the writer's handle after its last byte. A file written to or replaced since
 * (a write at any time changes mtime and ctime, and restoring the mtime changes ctime) is refused: its bytes may not
 * be the ones hashed and verified.
 */
async function sealShard(p: { hasher: RangeHasher; pass: number; path: string; written: WrittenShard }): Promise<HashedShard> {
  const { shard, file } = p.written;
  const got = await p.hasher.endPass(p.path, p.pass, shard.fileSize);
  const same = file !== null && got.file.dev === file.dev && got.file.ino === file.ino && got.file.size === file.size && got.file.mtimeMs === file.mtimeMs && got.file.ctimeMs === file.ctimeMs;
  if (!same) {
    throw new TruecastError("VERIFY_FAILED", `${shard.fileName} was written but changed before it was uploaded (another process wrote to it or replaced it); nothing was committed`);
  }
  return { sha256: got.sha256, file: got.file };
}

/**
 * Export a source as a Hugging Face safetensors folder: plan, stage, stream every tensor (bit for bit unless a
 * conversion is asked for), verify each shard on a worker thread while the next is written, write the index and
 * the small files with config.json's dtype measured from the output, then move the folder into place.
 * On any failure nothing is left at `out`.
 */
export async function exportModel(params: ExportParams): Promise<ExportReport> {
  const started = performance.now();
  const policy = dtypePolicy(params.dtype);
  let lora = params.lora;
  let model = params.model;
  if (!model && params.adapter !== undefined) {
    const opened = await openForExport({ ...params, policy, adapter: params.adapter });
    model = opened.model;
    lora = opened.lora ?? undefined;
  }
  if (!model && params.baseDir !== undefined) {
    // `baseDir` supplies the files the source lacks (config, tokenizer, generation config), as `--base` does.
    model = (await openForExport({ ...params, policy })).model;
  }
  model ??= await openSource(params.source, params);
  const publisher = params.publisher;
  let staged: StagedOutput | null = null;
  /** The file being written, for a disk-full message. */
  let current = "";
  let needed = 0;
  const hasher = new RangeHasher();
  const castPool = new CastPool();
  let sourceDigests: SourceDigests | null = null;
  /** Each shard's upload (with a publisher), in plan order. */
  const uploads: Promise<void>[] = [];
  try {
    const cardFile = params.modelCard ? params.modelCard.file : undefined;
    // Every carried file is checked (inside its folder, readable) before the first byte is written.
    const prepared = await prepareExport({
      model,
      policy,
      ...(params.maxShardSize ? { maxShardSize: params.maxShardSize } : {}),
      ...(cardFile !== undefined ? { cardFile } : {}),
      ...(params.baseDir !== undefined ? { baseDir: params.baseDir } : {}),
      ...(params.adapter !== undefined ? { adapter: params.adapter } : {}),
      ...(params.protect ? { protect: params.protect } : {}),
      shardsLeave: publisher !== undefined && !publisher.keepLocal,
    });
    const { plan, sidecars } = prepared;
    params.onEvent?.({ type: "plan", plan, model });
    staged = await StagedOutput.create({ out: params.out, force: params.force ?? false, protect: prepared.protect });
    needed = prepared.needed;
    await staged.checkFreeSpace(needed, params.freeBytes);
    // Every source weight file's SHA-256, on a thread of its own while the shards are written.
    sourceDigests = startSourceDigests(model.weightFiles ?? [], {
      ...(params.signal ? { signal: params.signal } : {}),
      cache: params.digestCache === false || (await cacheInside(params.env ?? process.env, params.out)) ? null : DigestCache.fromEnv(params.env ?? process.env),
    });

    const written = new WrittenTensors();
    const verifications: Promise<{ tensors: number; bytes: number }>[] = [];
    let before = 0;
    let verifiedBytes = 0;
    const stage = staged;
    const resumed = await resumeShards({ params, model, plan, policy });
    const buffers = new BufferPool();
    for (const [i, shard] of [...plan.shards, ...sidecars].entries()) {
      checkAbort(params.signal);
      const isSidecar = i >= plan.shards.length;
      const earlier = isSidecar ? undefined : resumed.get(shard.fileName);
      if (earlier) {
        // Already on the Hub from an interrupted run with this fingerprint: not read, written nor uploaded again.
        written.shards.push(earlier.written);
        verifications.push(Promise.resolve(earlier.verified));
        uploads.push(Promise.resolve());
        publisher?.reuse?.(shard);
        before += shard.dataSize;
        verifiedBytes += earlier.verified.bytes;
        params.onEvent?.({ type: "write", bytes: before, total: plan.totalSize, file: shard.fileName });
        continue;
      }
      // Bounded disk with a publisher: at most two shards on disk (one uploading, one being written).
      if (i >= 2) await uploads[i - 2];
      const base = before;
      const path = stage.path(shard.fileName);
      current = shard.fileName;
      const checks: Promise<{ tensors: number; bytes: number }>[] = [];
      // A shard to upload is hashed whole (its LFS oid) in the same reads that verify it, in file order: see sealShard.
      const pass = publisher && !isSidecar ? hasher.startPass() : undefined;
      // Tensors are verified in batches (one hashing task for many small tensors), so that a shard of a million
      // tiny tensors costs one small record per tensor, not a task, a message and a promise chain each.
      // A batch is a run of rows (numbers only, whatever it waits for): the items are made when it is hashed.
      let batch: { written: WrittenShard; from: number; to: number; onDisk: () => Promise<void> } | null = null;
      let batchBytes = 0;
      const flush = (): void => {
        if (batch === null) return;
        const { written: rows, from, to, onDisk } = batch;
        // One batch at a time (the hashing thread takes them in turn anyway): a shard of tiny tensors whose bytes
        // all reach the disk at once must not make every batch's items at once.
        const previous = checks.at(-1);
        const c = Promise.all([onDisk(), previous?.catch(() => undefined)]).then(() =>
          verifyTensors({ path, shardName: shard.fileName, items: rowItems(rows, from, to), hasher, ...(pass !== undefined && { pass }) }),
        );
        c.catch(() => undefined);
        checks.push(c);
        batch = null;
        batchBytes = 0;
      };
      const mine = await writeShard({
        shard,
        path,
        buffers,
        allowOverflow: params.allowOverflow ?? false,
        castPool,
        onProgress: (p) => {
          checkAbort(params.signal);
          if (!isSidecar) params.onEvent?.({ type: "write", bytes: base + p.bytes, total: plan.totalSize, file: shard.fileName });
        },
        // Each tensor is re-read on the hashing thread as soon as the file holds it, while later ones are written.
        // Tensors land in file order, so the last one's onDisk covers the whole batch.
        onTensor: (t) => {
          batch ??= { written: t.written, from: t.row, to: t.row, onDisk: t.onDisk };
          batch.to = t.row + 1;
          batch.onDisk = t.onDisk;
          batchBytes += t.range.length;
          if (batch.to - batch.from >= VERIFY_BATCH_TENSORS || batchBytes >= VERIFY_BATCH_BYTES) flush();
        },
      });
      flush();
      written.shards.push(mine);
      if (!isSidecar) before += shard.dataSize;
      const v = Promise.all([verifyShardHeader({ path, shard }), Promise.all(checks)]).then(([, batches]) => {
        const bytes = batches.reduce((n, b) => n + b.bytes, 0);
        verifiedBytes += bytes;
        params.onEvent?.({ type: "verify", bytes: verifiedBytes, total: plan.totalSize });
        return { tensors: batches.reduce((n, b) => n + b.tensors, 0), bytes };
      });
      verifications.push(v);
      if (pass !== undefined) v.catch(() => hasher.dropPass(pass));
      const u =
        publisher && !isSidecar
          ? v.then(async (counted) => {
              const hashed = pass !== undefined ? await sealShard({ hasher, pass, path, written: mine }) : undefined;
              await publisher.shard(path, shard.fileName, shardRecord(mine, counted), hashed);
              if (!publisher.keepLocal) await rm(path);
            })
          : v.then(() => undefined);
      uploads.push(u);
      // Failures surface through Promise.all below; avoid unhandled rejections meanwhile.
      v.catch(() => undefined);
      u.catch(() => undefined);
    }
    // Every shard is written: the free buffers kept for the next one would only raise the peak of what follows
    // (uploads finishing, the commit and its checks).
    buffers.clear();
    const results = await Promise.all(verifications);
    await Promise.all(uploads);
    if (plan.sharded) {
      current = "model.safetensors.index.json";
      await writeFile(stage.path("model.safetensors.index.json"), serializeIndex({ totalSize: plan.totalSize, weightMap: plan.weightMap }));
    }

    const onEvent = params.onEvent;
    const sourceFiles = await waitForDigests(sourceDigests, onEvent && ((bytes, total) => onEvent({ type: "hash-sources", bytes, total })));
    const census = censusDtypes(written.sizes(plan.shards.length));
    const sourceCensus = censusDtypes(model.tensors);
    const facts = {
      source: { kind: model.kind },
      bytesByDtype: Object.fromEntries(census.bytesByDtype),
      sourceBytesByDtype: Object.fromEntries(sourceCensus.bytesByDtype),
      conversions: conversionSummaries(written.casts()),
    };
    const card = params.modelCard ?? {};
    const small = await writeSmallFiles({
      model,
      dominant: census.dominant,
      mixed: census.mixed,
      facts,
      card,
      sourceFiles,
      target: (n) => stage.path((current = n)),
      provenance: {
        command: "truecast export",
        source: { kind: model.kind, path: params.source },
        options: {
          dtype: policy === "keep" ? undefined : dtypeLabel(policy),
          "max-shard-size": params.maxShardSize,
          "allow-overflow": params.allowOverflow || undefined,
          // only a flag the user gave: an H2O experiment's own LoRA is named by the card's "Merged LoRA adapter" line
          adapter: params.adapter !== undefined ? publicName(params.adapter) : undefined,
          base: params.baseDir !== undefined ? publicName(params.baseDir) : undefined,
          "model-card": card !== false && card.file !== undefined ? publicName(card.file) : undefined,
          license: (card !== false && card.license) || undefined,
          push: (card !== false && card.repoId) || undefined,
        },
      },
    });
    const files = [...sidecars.map((s) => s.fileName), ...small.files, REPORT_FILE];

    checkAbort(params.signal);
    if (!publisher || publisher.keepLocal) await verifyFolder({ dir: stage.staging, plan });
    if (small.config && !(await checkConfigAfterWrite(stage.path("config.json"), census.dominant))) {
      throw new TruecastError("VERIFY_FAILED", "config.json does not state the written dtype after writing");
    }
    const keep = !publisher || publisher.keepLocal;
    const report = buildReport({
      model,
      out: keep ? stage.out : null,
      policy,
      plan,
      census,
      sourceCensus,
      written,
      config: small.config,
      files,
      verified: { tensors: results.reduce((n, r) => n + r.tensors, 0), bytes: results.reduce((n, r) => n + r.bytes, 0) },
      seconds: 0,
      provenance: small.provenance,
      sourceFiles,
      notes: stage.removedStale,
    });
    // The report travels with the model: no local path in it (the source by its name, no output folder).
    const roots = [params.source, params.adapter, params.baseDir, card !== false ? card.file : undefined, hubCacheRoot(params.env)].filter((r): r is string => r !== undefined);
    current = REPORT_FILE;
    const { tensors: reportTensors, ...summary } = report;
    const handle = await open(stage.path(REPORT_FILE), "w");
    try {
      // Tensor entries hold names, shards and digests, never paths: only the rest needs scrubbing.
      await writeReportJsonBytes({ ...scrubPaths({ ...summary, out: undefined, ...(lora ? { lora } : {}) }, roots), tensors: reportTensors }, (b) => handle.write(b));
    } finally {
      await handle.close();
    }
    if (publisher) await publisher.finish(stage.staging, report);
    if (keep) await stage.commit();
    else await stage.discard();
    params.onEvent?.({ type: "done" });
    return { ...report, seconds: (performance.now() - started) / 1000 };
  } catch (e) {
    sourceDigests?.cancel();
    // A shard still uploading finishes first (its upload reads the staged file, and once on the Hub it is recorded
    // for a resume), unless the run was interrupted: then it stops at once.
    if (!params.signal?.aborted) await Promise.allSettled(uploads);
    const code = (e as NodeJS.ErrnoException | null)?.code;
    const error = staged && (code === "ENOSPC" || code === "EDQUOT") ? await staged.spaceError(e, current || "the output", needed, params.freeBytes) : e;
    await staged?.discard();
    throw error;
  } finally {
    await hasher.close();
    await castPool.close();
    await model.close();
  }
}
