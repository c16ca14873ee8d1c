import { formatBytes, formatDuration } from "../export/units.js";
import type { CliIo } from "./io.js";
import { escapeTerminal } from "./terminal-text.js";

/** Minimum time between two redraws of the progress line. */
const REDRAW_MS = 100;
/** The rate is measured over about this much recent time, so that a burst or a stall does not swing it. */
const RATE_WINDOW_MS = 5_000;
/**
 * Rate and ETA are shown only once a phase has run this long: the first frames of a copy measure the page cache
 * (tens of GB/s), and an ETA from a second of data is noise.
 */
const SETTLE_MS = 1_500;

/**
 * A one-line progress display on a TTY (phase, percent, bytes, then rate and ETA once they mean something); silent
 * when stderr is not a TTY or when quiet. `now` is the clock (tests pass their own).
 */
export class Progress {
  private readonly enabled: boolean;
  private label = "";
  private start = 0;
  private last = Number.NEGATIVE_INFINITY;
  private shown = false;
  private samples: Array<{ t: number; done: number }> = [];

  constructor(
    private readonly io: CliIo,
    quiet: boolean,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.enabled = !quiet && io.stderr.isTTY === true;
  }

  /** The phase now running; a new phase starts its rate afresh. */
  get phase(): string {
    return this.label;
  }

  begin(label: string): void {
    this.label = label;
    this.start = this.now();
    this.last = Number.NEGATIVE_INFINITY;
    this.samples = [];
  }

  /** Bytes per second over the recent window, or null while there is too little to measure. */
  private rate(now: number, done: number): number | null {
    const latest = this.samples[this.samples.length - 1];
    if (latest === undefined || now - latest.t >= REDRAW_MS) this.samples.push({ t: now, done });
    while (this.samples.length > 2 && now - (this.samples[1] as { t: number }).t >= RATE_WINDOW_MS) this.samples.shift();
    if (now - this.start < SETTLE_MS) return null;
    const first = this.samples[0] as { t: number; done: number };
    const span = now - first.t;
    if (span < SETTLE_MS / 2) return null;
    return ((done - first.done) * 1000) / span;
  }

  update(done: number, total: number, detail = ""): void {
    if (!this.enabled) return;
    const now = this.now();
    const rate = this.rate(now, done);
    if (now - this.last < REDRAW_MS && done < total) return;
    this.last = now;
    const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
    const parts = [`${this.label} ${String(pct).padStart(3)}%`, `${formatBytes(done)}/${formatBytes(total)}`];
    if (rate !== null && rate > 0) {
      parts.push(`${formatBytes(rate)}/s`);
      if (done < total) parts.push(`ETA ${formatDuration((total - done) / rate)}`);
    }
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
