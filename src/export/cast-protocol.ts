import type { CastReport } from "../dtype/cast.js";
import type { FloatDType } from "../dtype/table.js";
import type { Region } from "./cast-arena.js";

/** The first message to a casting worker when the export converts in a shared memory (cast-arena.ts). */
export interface CastInit {
  /** The arena's shared WebAssembly.Memory. */
  readonly memory: { readonly buffer: SharedArrayBuffer };
  /** Where this worker's kernel keeps its scratch in it. */
  readonly base: number;
}

/** Messages between the export and its casting workers. */
export interface CastTask {
  readonly id: number;
  readonly from: FloatDType;
  readonly to: FloatDType;
  /** The chunk's bytes, or where they lie in the shared memory. */
  readonly input: Uint8Array | Region;
  /** A buffer of the output's exact size to convert into (recycled by the sender), or its place in the memory, or none. */
  readonly output: Uint8Array | Region | null;
}

/** A reply leaves out the buffers that stayed in the shared memory (the sender still holds them). */
export type CastReply =
  | { readonly id: number; readonly input?: Uint8Array; readonly output?: Uint8Array; readonly report: CastReport }
  | { readonly id: number; readonly error: string; readonly code: string };
