/**
 * Constants and shapes of the safetensors format (huggingface/safetensors, `safetensors/src/tensor.rs`):
 * an 8-byte little-endian length N, N bytes of UTF-8 JSON describing the tensors, then the data buffer.
 */
import type { DType } from "../../dtype/table.js";
import type { TensorTable } from "./tensor-table.js";

/**
 * Largest header the reference reader accepts (`MAX_HEADER_SIZE` in `tensor.rs`). The Hub's own remote
 * parser stops earlier, at 25,000,000 bytes, so a file between the two limits loads locally but gets no
 * tensor listing on the Hub; real model headers are a few hundred KB.
 */
export const MAX_HEADER_SIZE = 100_000_000;

/**
 * Most dimensions a tensor's shape may have. safetensors sets no limit, so a 98 MB header could describe one
 * tensor of 49 million dimensions of 1. No framework computes with such a tensor: numpy (behind safetensors'
 * numpy, flax and tensorflow loaders) stops at 64 dimensions (32 before numpy 2), PyTorch's CUDA kernels at 25,
 * and model weights use at most 5. PyTorch on CPU sets no limit (1.13 makes a 5000-dimension tensor), so the
 * limit is generous rather than tight: it only bounds what one entry can cost to hold.
 */
export const MAX_TENSOR_RANK = 1024;

/**
 * Most `__metadata__` entries held. Real files carry a handful (`format`, sometimes a few dozen from
 * mergekit or converters); millions of tiny entries would cost far more memory than their bytes.
 */
export const MAX_METADATA_ENTRIES = 100_000;

/** Size of the little-endian u64 that gives the header's length. */
export const HEADER_LENGTH_PREFIX = 8;

/** The reference writer pads the JSON with spaces so that the data buffer starts 8-byte aligned. */
export const HEADER_ALIGNMENT = 8;

/** The key that holds the free-form string → string metadata instead of a tensor. */
export const METADATA_KEY = "__metadata__";

/** One tensor of a safetensors file. Offsets are relative to the start of the data buffer, `end` exclusive. */
export interface SafetensorsEntry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** N: the length of the JSON header, padding included. */
  headerSize: number;
  /** 8 + N: where the data buffer starts in the file. */
  dataStart: number;
  /** The tensors, sorted by `begin` (zero-size tensors at one offset keep the header's order), as columns. */
  tensors: TensorTable;
  /**
   * The same tensors as objects, made on first use: convenient for a few tensors; readers of large files use
   * {@link tensors}.
   */
  readonly entries: SafetensorsEntry[];
  metadata: Record<string, string> | null;
}
