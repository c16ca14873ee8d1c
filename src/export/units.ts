import { TruecastError } from "../errors.js";

/** Decimal units, as transformers and huggingface_hub read `max_shard_size` ("5GB" = 5·10⁹ bytes); binary with an i. */
const UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12,
  KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40,
};

/** Parse "64KB", "500MB", "5GB", "2GiB" or a plain byte count into bytes. */
export function parseSize(text: string, what = "size"): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = (m?.[2] ?? "").toUpperCase() || "B";
  const factor = UNITS[unit];
  if (!m || factor === undefined) {
    throw new TruecastError("USAGE", `${what} "${text}" is not a size; write it like 64KB, 500MB or 5GB (decimal units)`);
  }
  const bytes = Math.floor(Number(m[1]) * factor);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new TruecastError("USAGE", `${what} "${text}" must be a positive size such as 500MB or 5GB`);
  }
  return bytes;
}

/** "16.1 GB", decimal, as the Hub shows sizes. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB", "PB"];
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

/** "1m 05s", "12s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}
