import { formatBytes, formatDuration } from "../export/units.js";
import type { CliIo } from "./io.js";
import { escapeTerminal } from "./terminal-text.js";

/** Minimum time between two redraws of the progress line. */
const REDRAW_MS = 100;

/**
 * A one-line progress display on a TTY (bytes, rate, ETA); silent when stderr is not a TTY or when quiet.
 */
export class Progress {
  private readonly enabled: boolean;
  private label = "";
  private start = 0;
  private last = Number.NEGATIVE_INFINITY;
  private shown = false;

  constructor(private readonly io: CliIo, quiet: boolean) {
    this.enabled = !quiet && io.stderr.isTTY === true;
  }

  begin(label: string): void {
    this.label = label;
    this.start = performance.now();
    this.last = Number.NEGATIVE_INFINITY;
  }

  update(done: number, total: number, detail = ""): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.last < REDRAW_MS && done < total) return;
    this.last = now;
    const seconds = (now - this.start) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const eta = rate > 0 ? (total - done) / rate : Number.NaN;
    const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
    const parts = [
      `${this.label} ${String(pct).padStart(3)}%`,
      `${formatBytes(done)}/${formatBytes(total)}`,
      `${formatBytes(rate)}/s`,
      `ETA ${formatDuration(eta)}`,
    ];
    let line = escapeTerminal(parts.join(" · "));
    if (detail) line += ` · ${escapeTerminal(detail)}`;
    const width = (this.io.stderr.columns ?? 100) - 1;
    if (line.length > width) line = line.slice(0, width);
    this.io.stderr.write(`\r\x1b[2K${line}`);
    this.shown = true;
  }

  end(): void {
    if (this.shown) this.io.stderr.write("\r\x1b[2K");
    this.shown = false;
  }
}
