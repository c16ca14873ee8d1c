/**
 * The memory layout of the cast module (simd-module.ts): one block of up to {@link SIMD_BLOCK} elements, input at
 * {@link IN_AT}, output at {@link OUT_AT}, the indices of the block's special elements at {@link LIST_AT}, the
 * block's report at {@link STATS_AT}, in {@link SIMD_PAGES} pages, never grown.
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
