/**
 * A strided view too wide to read tile by tile in large reads (a transpose whose output rows are so long that a
 * block of them takes only a few bytes of each storage row) made in two passes through a scratch file. Pass 1 reads
 * the storage span once, in window-sized reads in storage order; for each window and each output block it packs
 * the block's elements found in the window (a {@link SliceWalk}) and writes the window's packed pieces, block after
 * block, as one write. Pass 2, block by block, reads the block's piece of every window and unpacks it into place.
 * Reads of the source: span / window. Scratch I/O: the view's bytes written once and read once, in
 * (windows × blocks) pieces of about window × block / span bytes. Memory: a window and its packed pieces in
 * pass 1 (the window read into one buffer where the reader allows); a block and one piece in pass 2, the piece read
 * into pass 1's packing buffer. The scratch file is unlinked as soon as it is open (where the system
 * allows), so nothing is left behind on any exit; else it is removed on close.
 */
import { randomBytes } from "node:crypto";
import { open, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { TruecastError } from "../../errors.js";
import { writeAll } from "../../util/write-all.js";
import { SliceWalk, type BlockDims } from "./view-walk.js";

/** One output block: its first storage element (absolute) and its row count along the split dim. */
export interface SpillBlock {
  readonly base: number;
  readonly rows: number;
}

export interface ViewSpillParams {
  /** A folder the caller owns and removes (an export's staging folder); the scratch file is made in it. */
  readonly dir: string;
  readonly itemSize: number;
  /** The view's storage span: first element and element count. */
  readonly lo: number;
  readonly extent: number;
  /** Elements read at once. */
  readonly windowElems: number;
  /** The output blocks, in output order; each block's bytes are `rows × rowBytes`. */
  readonly blocks: readonly SpillBlock[];
  readonly rowBytes: number;
  /** A block's dims for a row count. */
  readonly dimsOf: (rows: number) => BlockDims;
  /** Storage elements [lo, lo + count) (at most a window), in a buffer whose offset is a multiple of 8. */
  readonly readStorage: (lo: number, count: number) => Promise<Uint8Array>;
}

async function readAll(h: FileHandle, b: Uint8Array, position: number, what: string): Promise<void> {
  for (let done = 0; done < b.length; ) {
    const { bytesRead } = await h.read(b, done, b.length - done, position + done);
    if (bytesRead === 0) throw new TruecastError("INTERNAL", `${what}: the scratch file ends at ${position + done}`);
    done += bytesRead;
  }
}

export class ViewSpill {
  private constructor(
    private readonly p: ViewSpillParams,
    private readonly handle: FileHandle,
    private readonly path: string | undefined,
    /** Piece (window w, block j) is bytes [at[w·(B+1) + j], at[w·(B+1) + j + 1]) of the scratch file. */
    private readonly at: Float64Array,
    private readonly walks: Map<number, SliceWalk>,
  ) {}

  /** Pass 2's read buffer: pass 1's packing buffer, which holds a window's elements, so any piece fits. */
  private piece = new Uint8Array(0);

  /** Pass 1: the storage span read once into the scratch file, packed by block. */
  static async create(p: ViewSpillParams): Promise<ViewSpill> {
    const path = join(p.dir, `.truecast-view-${process.pid}-${randomBytes(6).toString("hex")}.tmp`);
    const handle = await open(path, "wx+", 0o600).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOSPC" || e.code === "EDQUOT") throw e; // the export tells what space is missing
      throw new TruecastError("INTERNAL", `cannot make a scratch file in ${p.dir} (${e.code ?? e.message})`, { cause: e });
    });
    let kept: string | undefined = path;
    try {
      await unlink(path);
      kept = undefined;
    } catch {
      // Kept until close (a system that cannot unlink an open file).
    }
    const nb = p.blocks.length;
    const windows = Math.ceil(p.extent / p.windowElems);
    const walks = new Map<number, SliceWalk>();
    const spill = new ViewSpill(p, handle, kept, new Float64Array(windows * (nb + 1)), walks);
    try {
      let fileAt = 0;
      // The view never maps two of its elements to one storage element, so a window packs into its own size.
      const packed = new Uint8Array(Math.min(p.extent, p.windowElems) * p.itemSize);
      for (let w = 0; w < windows; w++) {
        const from = p.lo + w * p.windowElems;
        const count = Math.min(p.windowElems, p.lo + p.extent - from);
        const src = await p.readStorage(from, count);
        let n = 0;
        for (let j = 0; j < nb; j++) {
          spill.at[w * (nb + 1) + j] = fileAt + n * p.itemSize;
          const blk = p.blocks[j] as SpillBlock;
          n += spill.walk(blk.rows).pack(src, blk.base - from, packed, n);
        }
        spill.at[w * (nb + 1) + nb] = fileAt + n * p.itemSize;
        await writeAll(handle, packed.subarray(0, n * p.itemSize), fileAt);
        fileAt += n * p.itemSize;
      }
      spill.piece = packed;
    } catch (e) {
      await spill.close();
      throw e;
    }
    return spill;
  }

  private walk(rows: number): SliceWalk {
    let w = this.walks.get(rows);
    if (w === undefined) {
      w = new SliceWalk(this.p.dimsOf(rows), this.p.itemSize);
      this.walks.set(rows, w);
    }
    return w;
  }

  /** Pass 2 for block `j`: its bytes, from its piece of every window, into `out` (`rows × rowBytes` bytes). */
  async block(j: number, out: Uint8Array): Promise<void> {
    const p = this.p;
    const blk = p.blocks[j] as SpillBlock;
    const nb = p.blocks.length;
    if (out.length !== blk.rows * p.rowBytes) throw new TruecastError("INTERNAL", `a spilled view's block ${j} has ${blk.rows * p.rowBytes} bytes, not ${out.length}`);
    const walk = this.walk(blk.rows);
    const windows = this.at.length / (nb + 1);
    for (let w = 0; w < windows; w++) {
      const start = this.at[w * (nb + 1) + j] ?? 0;
      const length = (this.at[w * (nb + 1) + j + 1] ?? 0) - start;
      if (length === 0) continue;
      if (this.piece.length < length) throw new TruecastError("INTERNAL", `a spilled view's piece of ${length} bytes is larger than a window`);
      const part = this.piece.subarray(0, length);
      await readAll(this.handle, part, start, "a spilled view");
      const from = p.lo + w * p.windowElems;
      walk.unpack(part, Math.min(p.windowElems, p.lo + p.extent - from), blk.base - from, out);
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
    if (this.path !== undefined) await unlink(this.path).catch(() => undefined);
  }
}
