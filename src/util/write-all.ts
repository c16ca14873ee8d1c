/**
 * Writing a whole buffer at a file position, the one way truecast's writers do it (the shard writer, the torch
 * view spill): in calls of at most {@link WRITE_PIECE} bytes, and a disk that accepts no bytes is an error rather
 * than a loop that never ends.
 */
import type { FileHandle } from "node:fs/promises";
import { TruecastError } from "../errors.js";

/**
 * Most bytes handed to one write() call. On the 2-core Xeon VM of the benchmarks (Linux 6.18, ext4), one 8 MiB
 * write() cost the kernel up to 8× the system time of the same bytes in 1 MiB writes, in its copy into the page cache
 * (copy_folio_from_iter_atomic): 0.26-1.98 s against 0.24-0.27 s for a 470 MB file from the same 8 MiB buffers
 * (likely cause: an 8 MiB write got 2 MiB page-cache folios, the block size at which that guest hands free memory back
 * to its host, which faults it in again; a 1 MiB write got 1 MiB folios). Reads keep their 8 MiB chunks; only the
 * syscalls are split (bit-exact 2 GB export, 4 pairs at load 15-18: CPU 0.54-0.89× of 8 MiB writes).
 */
export const WRITE_PIECE = 1024 * 1024;

/** Write all of `bytes` at `position`, in calls of at most {@link WRITE_PIECE} bytes. */
export async function writeAll(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await fh.write(bytes, done, Math.min(WRITE_PIECE, bytes.byteLength - done), position + done);
    if (bytesWritten <= 0) throw new TruecastError("UNREADABLE", "the disk accepted no bytes; is it full?");
    done += bytesWritten;
  }
}
