/**
 * This process's own peak resident memory, in bytes. On Linux it is VmHWM from /proc/self/status, the high-water
 * mark of the memory of the program now running: `process.resourceUsage().maxRSS` also counts what the process
 * held before it exec'd node, and a child spawned by a large test process (fork, then exec) starts with its parent's
 * resident size there, so a child that reads nothing could report the test runner's 150 MB. Elsewhere: maxRSS.
 */
import { readFileSync } from "node:fs";

export function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (m?.[1] !== undefined) return Number(m[1]) * 1024;
  } catch {
    // not Linux: below
  }
  return process.resourceUsage().maxRSS * 1024;
}
