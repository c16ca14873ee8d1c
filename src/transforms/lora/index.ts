export { mergeLora, type MergeLoraParams, type MergeLoraResult } from "./merge-lora.js";
export { createMergePool, DEFAULT_MIN_PARALLEL_WORK, type CreateMergePoolParams, type MergePool, type SharedMergeBlock } from "./pool.js";
export { mergeRows, type MergeRowsResult, type MergeRowsTask } from "./merge-rows.js";
export { applyDeltaRows, transposeF32, type DeltaRowsParams } from "./kernel.js";
export { createSimdKernel, threadKernel, type SimdKernel } from "./simd-kernel.js";
export { CONV1D_MODULES, planLayouts, readBaseArchitecture, type BaseArchitecture, type LayoutSource, type WeightLayout } from "./layout.js";
export { moduleScaling, patternValue, rankAndAlpha, ruleForVersion, type ModuleScaling, type PatternRule } from "./scaling.js";
export type { LoraModuleReport, LoraReport, LoraTensorRoute, MergeCounts } from "./report.js";
