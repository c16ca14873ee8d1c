/**
 * A memory sampler to preload into a process under study (`--import`), for bench/scale.ts:
 *
 *   MEMLOG=/tmp/mem.json TRUECAST_BENCH_NODE_OPTIONS="--import=$PWD/dist/bench/mem-sampler.js" node dist/bench/scale.js --layers 2 --no-raw
 *
 * Every 50 ms on the main thread: process.memoryUsage() (rss, heapTotal, heapUsed, external, arrayBuffers), the size
 * of V8's new and old spaces, resident anonymous and file-backed memory and the thread count (/proc/self/status);
 * garbage collections counted by kind (1 minor, 4 major) with their milliseconds. At exit it writes to $MEMLOG, in
 * MB: the peak of each, the sample at the RSS peak, and one sample a second. Nothing happens without MEMLOG.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics } from "node:v8";
import { isMainThread } from "node:worker_threads";

type Sample = Record<string, number>;

function procStatus(): Sample {
  const s = readFileSync("/proc/self/status", "utf8");
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return { anon: kb("RssAnon") * 1024, file: kb("RssFile") * 1024, threads: kb("Threads") };
}

function sample(t0: number): Sample {
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((x) => [x.space_name, x.space_size]));
  return {
    t: (Date.now() - t0) / 1000, rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers,
    newSpace: spaces.new_space ?? 0, oldSpace: spaces.old_space ?? 0, ...procStatus(),
  };
}

const out = process.env.MEMLOG;
if (isMainThread && out) {
  const t0 = Date.now();
  const peak: Sample = {};
  let atPeak: Sample = {};
  const series: Sample[] = [];
  const gcs: Record<string, number> = {};
  let n = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = String((e as unknown as { detail?: { kind?: number } }).detail?.kind ?? "?");
      gcs[kind] = (gcs[kind] ?? 0) + 1;
      gcs[`ms${kind}`] = Math.round((gcs[`ms${kind}`] ?? 0) + e.duration);
    }
  }).observe({ entryTypes: ["gc"] });
  const take = () => {
    const s = sample(t0);
    for (const [k, v] of Object.entries(s)) peak[k] = Math.max(peak[k] ?? 0, v);
    if ((s.rss ?? 0) >= (peak.rss ?? 0)) atPeak = s;
    if (n++ % 20 === 0) series.push(s);
  };
  setInterval(take, 50).unref();
  process.on("exit", () => {
    take();
    const mb = (s: Sample) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === "t" || k === "threads" ? v : Math.round(v / 1e6)]));
    writeFileSync(out, JSON.stringify({ gcs, peak: mb(peak), atPeak: mb(atPeak), series: series.map(mb) }));
  });
}
