import type { DType } from "../dtype/table.js";
import type { NameRef } from "../formats/safetensors/name-table.js";

/**
 * A tensor that knows where its bytes are and reads them only when asked.
 * Every source (safetensors, torch zip, PEFT adapter, a LoRA merge) offers its tensors this way.
 */
export interface TensorRef {
  /** The tensor's name as it will be written (after any key renaming the source did). */
  readonly name: string;
  /**
   * Where `name`'s UTF-8 bytes already are, when a reader keeps them (a row of a safetensors header's name table):
   * a plan of a million tensors then points at them instead of copying them. Must hold exactly `name`.
   */
  readonly nameRef?: NameRef;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Bytes of the logical row-major contents: numel × element size. */
  readonly byteLength: number;
  /** Where the bytes come from, for messages and reports (a file name, or `merge(q_proj)`). */
  readonly origin: string;
  /**
   * The logical row-major contents (little-endian), in order, as chunks of at most `chunkSize` bytes.
   * `chunkSize` is a multiple of 8; every chunk but the last holds a whole number of elements.
   * Each chunk is a fresh buffer the consumer may keep — unless the consumer passes `alloc`: then a source that
   * reads from a file may read into buffers `alloc(byteLength)` returns (the consumer recycles them, so that
   * large copies touch no new memory); a source that computes its bytes may ignore it.
   */
  chunks(chunkSize: number, alloc?: (byteLength: number) => Uint8Array, opts?: ChunkOptions): AsyncIterable<Uint8Array>;
  /**
   * What computed these bytes when they are not the checkpoint's own ("LoRA merge"); absent for bytes read
   * from the source as they are. Computed tensors are never counted as bit-exact copies.
   */
  readonly computed?: string;
}

/** What a consumer lends a tensor's reader. */
export interface ChunkOptions {
  /**
   * A folder the consumer owns (an export's staging folder) where a source may keep a scratch file while it makes
   * the tensor's bytes (a very wide strided torch view), removed when the read ends; without it the source makes
   * them without one, perhaps more slowly.
   */
  readonly scratchDir?: string;
}

/** Which input of a run a source file belongs to. */
export type SourceFileRole = "source" | "adapter" | "base";

/** A weight file an export reads: listed with its SHA-256 in the model card and the report. */
export interface SourceFile {
  /** Where it is on this machine; never reported. */
  readonly path: string;
  /**
   * Its name relative to the input it belongs to (the source folder, the adapter folder, the base model's
   * folder or Hub repo): `model-00001-of-00002.safetensors`, `checkpoint.pth`; a single-file source by its file name.
   */
  readonly name: string;
  readonly role: SourceFileRole;
  /**
   * Size and SHA-256 when the store knows them without the file being on this machine (a Hub repo's LFS files):
   * then `path` only names it, and nothing is read or hashed.
   */
  readonly known?: { readonly bytes: number; readonly sha256: string };
}

/** The same files, as files of another input (an adapter's, a base model's). */
export function withRole(files: readonly SourceFile[] | undefined, role: SourceFileRole): SourceFile[] {
  return (files ?? []).map((f) => ({ ...f, role }));
}

/** A checkpoint opened as tensors plus the small files that travel with them. */
export interface SourceModel {
  /** What was opened, for the report: "safetensors file", "Hugging Face folder", "H2O LLM Studio experiment", ... */
  readonly kind: string;
  readonly path: string;
  /** In the order they should be planned (the writer sorts within shards itself). Names are unique. */
  readonly tensors: readonly TensorRef[];
  /**
   * Small non-weight files to carry into the export: name in the output folder → absolute path.
   * config.json is among them when there is one (the export rewrites its dtype keys); weight files and
   * weight indexes never are. A source read from a remote store gives copies in a private temporary folder,
   * removed by `close()`.
   */
  readonly files: ReadonlyMap<string, string>;
  /**
   * The weight files the tensors are read from (shards, a torch zip, an H2O checkpoint, an adapter's weights, a base
   * model's weights), in reading order. Absent for a model built in memory: the report then lists no source files.
   */
  readonly weightFiles?: readonly SourceFile[];
  /**
   * The `__metadata__` of each safetensors file the tensors come from, by the file name tensors give as `origin`
   * (null where a header has none), when the source read it (so `inspect` need not read headers again).
   */
  readonly shardMetadata?: ReadonlyMap<string, Readonly<Record<string, string>> | null>;
  /** What the source did to get here, one line each, for the report (keys renamed, views materialized, ...). */
  readonly notes: readonly string[];
  /**
   * For a source read from the Hub in place (`hf://org/name@rev`): the commit the revision was pinned to when it was
   * opened; every tensor byte is read at this commit.
   */
  readonly commit?: string;
  /** Hub id of the model this checkpoint was fine-tuned from, when the source knows it (H2O cfg, PEFT config). */
  readonly baseModel?: string;
  /**
   * Tensors that travel beside the model's weights in files of their own (H2O's classification/regression heads):
   * output file name (`classification_head.safetensors`) → tensors.
   */
  readonly sidecars?: ReadonlyMap<string, readonly TensorRef[]>;
  /** Release file handles, and a remote store's copied-out carried files. */
  close(): Promise<void>;
}
