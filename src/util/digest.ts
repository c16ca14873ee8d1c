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
  xxh3: { Xxh3: { withSeed(seed?: bigint): Xxh3Stream }; xxh64(input: Uint8Array, seed?: bigint): bigint };
}

/**
 * Input up to this size is hashed in one call when it comes in one piece: a native streaming state costs ~600 bytes
 * of memory the garbage collector does not see, which a million tiny tensors would pile up before it runs.
 */
const ONE_SHOT = 64 * 1024;

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
    const xxh3 = native.xxh3;
    let h: Xxh3Stream | null = null;
    /** The only input so far, copied (the caller may reuse its buffer), while it is small. */
    let first: Uint8Array | null = null;
    return {
      update: (b) => {
        if (h === null && first === null && b.byteLength <= ONE_SHOT) {
          first = b.slice();
          return;
        }
        if (h === null) {
          h = xxh3.Xxh3.withSeed(0n);
          if (first !== null) h.update(first);
          first = null;
        }
        h.update(b);
      },
      digest: () => {
        const value = h !== null ? h.digest() : xxh3.xxh64(first ?? new Uint8Array(0), 0n);
        return `xxh3-64:${value.toString(16).padStart(16, "0")}`;
      },
    };
  }
  const h = createHash("sha256");
  return {
    update: (b) => void h.update(b),
    digest: () => `sha256:${h.digest("hex")}`,
  };
}
