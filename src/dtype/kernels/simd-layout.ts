/**
 * The memory layout of the cast module (simd-module.ts): one block of up to {@link SIMD_BLOCK} elements, input at
 * {@link IN_AT}, output at {@link OUT_AT}, the indices of the block's special elements at {@link LIST_AT}, the
 * block's report at {@link STATS_AT}, in {@link SIMD_PAGES} pages, never grown.
 *
 * Those offsets are from the instance's scratch base ({@link scratchAt}): 0 in a memory of the instance's own; in a
 * memory shared by several instances (the export's cast workers, cast-arena.ts), each instance has its own scratch.
 * The functions read their input and write their output where the globals `inAt` and `outAt` say
 * ({@link IN_PTR}, {@link OUT_PTR}): the scratch block by default, or anywhere else in the memory, so that a chunk
 * that already lies there is converted in place, with no copy in or out.
 */

/** Elements per block (the kernels stage each block through the module's memory, which stays in cache). */
export const SIMD_BLOCK = 16384;
export const IN_AT = 0;
export const OUT_AT = SIMD_BLOCK * 4;
export const LIST_AT = OUT_AT + SIMD_BLOCK * 4;
export const STATS_AT = LIST_AT + SIMD_BLOCK * 4;
/** The narrowing functions' state between their fast loop and their careful path (simd-narrow.ts). */
export const STATE_AT = STATS_AT + 64;
export const SIMD_PAGES = Math.ceil((STATE_AT + 128) / 65536);
/** Bytes of one instance's scratch (a whole number of pages). */
export const SCRATCH_BYTES = SIMD_PAGES * 65536;

/** Absolute addresses of one instance's scratch. */
export interface Scratch {
  readonly in: number;
  readonly out: number;
  readonly list: number;
  readonly stats: number;
  readonly state: number;
}

/** The scratch of an instance whose scratch starts at byte `base` of its memory. */
export function scratchAt(base: number): Scratch {
  return { in: base + IN_AT, out: base + OUT_AT, list: base + LIST_AT, stats: base + STATS_AT, state: base + STATE_AT };
}

/** `global.get` of the input address (global 0, `inAt`) and of the output address (global 1, `outAt`). */
export const IN_PTR = [0x23, 0];
export const OUT_PTR = [0x23, 1];
