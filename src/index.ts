/** truecast's library entry: the same capabilities as the CLI. */
export { TruecastError, isTruecastError, type ErrorCode } from "./errors.js";
export { DTYPES, isFloatDType, parseFloatDType, configName, type DType, type FloatDType } from "./dtype/table.js";
export { createCaster, createEncoder, decodeToFloat32, type CastReport } from "./dtype/cast.js";
export { openSource, type OpenSourceOptions } from "./sources/open.js";
export type { SourceModel, TensorRef } from "./sources/tensor-ref.js";
export { exportModel, dtypePolicy, type ExportParams, type ExportReport, type ExportEvent } from "./export/export.js";
export { inspect, inspectSource, type InspectReport } from "./export/inspect.js";
export { planExport, type DtypePolicy, type ExportPlan } from "./export/plan.js";
export { parseSize } from "./export/units.js";
export { runCli } from "./cli/run.js";
export { openForExport, type OpenForExportParams, type OpenedForExport } from "./export/open-for-export.js";
export { mergeLora, type LoraReport } from "./transforms/lora/index.js";
export { openPeftAdapter, type PeftAdapter } from "./sources/peft.js";
export { renderReportPage, PAGE_DATA_ID } from "./report/render-page.js";
export { writeReportPage, type WriteReportPageOptions } from "./report/write-page.js";
export { groupOf, layerOf, type ReportPage, type Finding, type TensorRow, type TensorGroup, type Severity } from "./report/page-data.js";
export { publishFolder, createUploadSession, resolveToken, resolveEndpoint, type PublishReport, type PublishEvent } from "./hub/index.js";
export { createExportPublisher } from "./hub/export-push.js";
