import { createHash } from "node:crypto";
import { createRequire } from "node:module";

/**
 * The digest that proves a tensor's bytes unchanged: XXH3-64 (a non-cryptographic hash that runs at memory speed,
 * so proving costs far less than copying) from `@node-rs/xxhash`, or sha256 where that native module has no build
 * for the platform. The guard is against accidental change (a disk, a file system, a bug), not an adversary who
 * could equally rewrite the report.
 */
export interface Digest {
  update(bytes: Uint8Array): void;
  /** `xxh3-64:<16 hex digits>` or `sha256:<64 hex digits>`. */
  digest(): string;
}

interface Xxh3Stream {
  update(input: Uint8Array): unknown;
  digest(): bigint;
}

interface Xxh3Module {
  xxh3: { Xxh3: { withSeed(seed?: bigint): Xxh3Stream } };
}

function loadXxh3(): Xxh3Module | null {
  try {
    return createRequire(import.meta.url)("@node-rs/xxhash") as Xxh3Module;
  } catch {
    return null;
  }
}

const native = loadXxh3();

/** The algorithm in use here, for reports. */
export const DIGEST_ALGORITHM: "xxh3-64" | "sha256" = native ? "xxh3-64" : "sha256";

export function createDigest(): Digest {
  if (native) {
    const h = native.xxh3.Xxh3.withSeed(0n);
    return {
      update: (b) => void h.update(b),
      digest: () => `xxh3-64:${h.digest().toString(16).padStart(16, "0")}`,
    };
  }
  const h = createHash("sha256");
  return {
    update: (b) => void h.update(b),
    digest: () => `sha256:${h.digest("hex")}`,
  };
}
