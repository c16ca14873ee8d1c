/**
 * The kernel's hot loop in WebAssembly SIMD (4 float32 lanes): `acc[j] = Σ_k fround(L[i,k] · R[k,j])`, products
 * and partial sums rounded to float32 in increasing k, exactly the arithmetic of {@link applyDeltaRows}
 * (IEEE float32 multiply and add, round-to-nearest-even, per lane). The last `cols % 4` columns and the final
 * `W + fround(acc · scale)` step run in JavaScript with the same rounding, so the bits are the same as the
 * pure-JS kernel's; only the speed differs. Where WebAssembly SIMD is unavailable, callers use the JS kernel.
 *
 * The module is assembled here byte by byte (no build step, no dependency). It exports its memory and one
 * function, `row(scratch, right, leftRow, rank, bytes, stride)`:
 *   scratch[0..bytes) = L[0]·R[0, ·];  for k in 1..rank: scratch += fround(L[k] · R[k, ·])
 * with byte offsets into the memory; `bytes` is a positive multiple of 16, `stride` the byte length of R's rows.
 */
import { applyDeltaRows, type DeltaRowsParams } from "./kernel.js";

const I32 = 0x7f;
const V128 = 0x7b;
const op = {
  block: [0x02, 0x40], loop: [0x03, 0x40], end: [0x0b], br: 0x0c, brIf: 0x0d,
  get: 0x20, set: 0x21, tee: 0x22, i32const: 0x41, add: [0x6a], shl: [0x74], ltU: [0x49], geU: [0x4f],
  f32load: [0x2a, 0x02, 0x00], v128load: [0xfd, 0x00, 0x00, 0x00], v128store: [0xfd, 0x0b, 0x00, 0x00],
  splat: [0xfd, 0x13], f32x4add: [0xfd, 0xe4, 0x01], f32x4mul: [0xfd, 0xe6, 0x01],
} as const;

// locals: params 0..5 = scratch, right, leftRow, rank, bytes, stride; then j, k, rp (i32) and l (v128)
const [SCRATCH, RIGHT, LEFT, RANK, BYTES, STRIDE, J, K, RP, L] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] as const;

function get(i: number): number[] { return [op.get, i]; }
function set(i: number): number[] { return [op.set, i]; }
function c(n: number): number[] { return [op.i32const, n]; } // 0..63 only: one-byte signed LEB128

/** `j += 16; if (j < bytes) continue the enclosing loop`. */
const nextJ = [...get(J), ...c(16), ...op.add, op.tee, J, ...get(BYTES), ...op.ltU, op.brIf, 0];

const body: number[] = [
  // l = splat(L[0]); j = 0; do { scratch[j] = l · R[0, j] } while (j < bytes)
  ...get(LEFT), ...op.f32load, ...op.splat, ...set(L), ...c(0), ...set(J),
  ...op.loop,
  ...get(SCRATCH), ...get(J), ...op.add,
  ...get(L), ...get(RIGHT), ...get(J), ...op.add, ...op.v128load, ...op.f32x4mul,
  ...op.v128store, ...nextJ,
  ...op.end,
  // k = 1; rp = right + stride
  ...c(1), ...set(K), ...get(RIGHT), ...get(STRIDE), ...op.add, ...set(RP),
  ...op.block, ...op.loop,
  ...get(K), ...get(RANK), ...op.geU, op.brIf, 1,
  ...get(LEFT), ...get(K), ...c(2), ...op.shl, ...op.add, ...op.f32load, ...op.splat, ...set(L), ...c(0), ...set(J),
  ...op.loop,
  ...get(SCRATCH), ...get(J), ...op.add,
  ...get(SCRATCH), ...get(J), ...op.add, ...op.v128load,
  ...get(L), ...get(RP), ...get(J), ...op.add, ...op.v128load, ...op.f32x4mul,
  ...op.f32x4add, ...op.v128store, ...nextJ,
  ...op.end,
  ...get(K), ...c(1), ...op.add, ...set(K), ...get(RP), ...get(STRIDE), ...op.add, ...set(RP),
  op.br, 0,
  ...op.end, ...op.end,
  ...op.end,
];

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function name(s: string): number[] {
  return [s.length, ...[...s].map((ch) => ch.charCodeAt(0))];
}

function moduleBytes(): Uint8Array {
  const locals = [2, 3, I32, 1, V128];
  const func = [...locals, ...body];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 6, I32, I32, I32, I32, I32, I32, 0]),
    ...section(3, [1, 0]),
    ...section(5, [1, 0x00, 1]),
    ...section(7, [2, ...name("row"), 0x00, 0, ...name("mem"), 0x02, 0]),
    ...section(10, [1, ...uleb(func.length), ...func]),
  ]);
}

const PAGE = 65536;

/** The few WebAssembly APIs used here (the project's TypeScript libs declare no WebAssembly types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { readonly exports: Record<string, unknown> };
}

export interface SimdKernel {
  applyDeltaRows(p: DeltaRowsParams): void;
}

/** A SIMD kernel with its own memory (one per thread), or null where WebAssembly SIMD is not available. */
export function createSimdKernel(): SimdKernel | null {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (wasm === undefined) return null;
  let exports: Record<string, unknown>;
  try {
    exports = new wasm.Instance(new wasm.Module(moduleBytes())).exports;
  } catch {
    return null; // no SIMD support: the module does not validate
  }
  const memory = exports.mem as WasmMemory;
  const row = exports.row as (scratch: number, right: number, left: number, rank: number, bytes: number, stride: number) => void;
  return {
    applyDeltaRows(p: DeltaRowsParams): void {
      const { rank, cols, scale, values, touched } = p;
      const nRows = p.rowEnd - p.rowStart;
      const cols4 = cols & ~3;
      // memory: scratch (cols floats) | left rows of this range (nRows × rank) | right (rank × cols)
      const leftAt = cols * 4;
      const rightAt = leftAt + nRows * rank * 4;
      const need = rightAt + rank * cols * 4;
      if (need > memory.buffer.byteLength) memory.grow(Math.ceil((need - memory.buffer.byteLength) / PAGE));
      const heap = new Float32Array(memory.buffer);
      heap.set(p.left.subarray(p.rowStart * rank, p.rowEnd * rank), leftAt / 4);
      heap.set(p.right.subarray(0, rank * cols), rightAt / 4);
      const scratch = heap.subarray(0, cols);
      const { left, right } = p;
      for (let i = p.rowStart; i < p.rowEnd; i++) {
        const leftRow = leftAt + (i - p.rowStart) * rank * 4;
        if (rank > 0 && cols4 > 0) row(0, rightAt, leftRow, rank, cols4 * 4, cols * 4);
        for (let j = cols4; j < cols; j++) {
          let acc = Math.fround((left[i * rank] as number) * (right[j] as number));
          for (let k = 1; k < rank; k++) acc = Math.fround(acc + Math.fround((left[i * rank + k] as number) * (right[k * cols + j] as number)));
          scratch[j] = acc;
        }
        if (rank === 0) scratch.fill(0);
        const base = (i - p.blockStartRow) * cols;
        for (let j = 0; j < cols; j++) {
          const d = Math.fround((scratch[j] as number) * scale);
          touched[base + j] = d !== 0 ? 1 : 0;
          values[base + j] = (values[base + j] as number) + d;
        }
      }
    },
  };
}

let threadKernelFn: ((p: DeltaRowsParams) => void) | null = null;

/** The fastest kernel for this thread: the SIMD one where WebAssembly SIMD works, else the JS one. Same bits. */
export function threadKernel(): (p: DeltaRowsParams) => void {
  if (threadKernelFn === null) {
    const simd = createSimdKernel();
    threadKernelFn = simd === null ? applyDeltaRows : (p) => simd.applyDeltaRows(p);
  }
  return threadKernelFn;
}
