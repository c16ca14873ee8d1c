import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let cached: string | null = null;

/** truecast's version, from its package.json (found above this file, compiled or not). */
export function truecastVersion(): string {
  if (cached !== null) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const p = join(dir, "package.json");
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "truecast" && typeof pkg.version === "string") return (cached = pkg.version);
    }
    const up = dirname(dir);
    if (up === dir) return (cached = "0.0.0");
    dir = up;
  }
}
