/** The safetensors codec: header rules, header writer, file reading, the sharded index. */
export * from "./header.js";
export { compareCodePoints } from "./layout.js";
export { readSafetensorsHeader, readRangeChunks, type SafetensorsFileHeader } from "./read.js";
export * from "./index-file.js";
