/**
 * The CLI, run in this process, that writes its peak RSS (KB) to $TRUECAST_FUZZ_RSS_FILE as it exits: how the
 * fuzzer measures a child's memory without /usr/bin/time. Does nothing unless $TRUECAST_FUZZ_CHILD is set (node --test
 * may load this file as a test).
 */
import { writeFileSync } from "node:fs";
import { peakRssBytes } from "../support/peak-rss.js";

if (process.env.TRUECAST_FUZZ_CHILD === "1") {
  const rssFile = process.env.TRUECAST_FUZZ_RSS_FILE;
  process.on("exit", () => {
    if (rssFile !== undefined) writeFileSync(rssFile, String(Math.round(peakRssBytes() / 1024)));
  });
  await import("../../src/cli/main.js");
}
