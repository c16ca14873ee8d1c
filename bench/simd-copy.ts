/**
 * The floor for the cast kernels (cast-kernel.ts): a plain WebAssembly SIMD copy of the same bytes, in the same
 * memory, at the same step (64 bytes read and 32 written a step for float32 → 16 bits, the high halves kept, so
 * that it reads and writes what a narrowing does and no more; 32 read and written for 16 → 16 bits; 16 read and 32
 * written, each vector stored twice, for 16 → 32 bits). What a cast costs above it is its instructions; what it
 * costs up to it is memory.
 */
import { s, v } from "../src/dtype/kernels/simd-ops.js";
import { i32Const as c, name, section, uleb } from "../src/dtype/kernels/wasm-bytes.js";

const I32 = 0x7f;

type Kind = "narrow" | "copy16" | "widen";

/** `(src, dst, end)`: the loop, until dst reaches end (locals 0, 1, 2). */
function body(kind: Kind): number[] {
  const step = kind === "widen"
    ? [...s.get(1), ...s.get(0), ...v.load(0), ...s.get(1), ...s.get(0), ...v.load(0), ...v.store(16), ...v.store(0), ...s.get(0), ...c(16), ...s.add, ...s.set(0)]
    : kind === "narrow"
    ? [
      ...s.get(1), ...s.get(0), ...v.load(0), ...s.get(0), ...v.load(16), ...v.high16, ...v.store(0),
      ...s.get(1), ...s.get(0), ...v.load(32), ...s.get(0), ...v.load(48), ...v.high16, ...v.store(16),
      ...s.get(0), ...c(64), ...s.add, ...s.set(0),
    ]
    : [
      ...s.get(1), ...s.get(0), ...v.load(0), ...v.store(0), ...s.get(1), ...s.get(0), ...v.load(16), ...v.store(16),
      ...s.get(0), ...c(32), ...s.add, ...s.set(0),
    ];
  const content = [0, ...s.loop, ...step, ...s.get(1), ...c(32), ...s.add, ...s.tee(1), ...s.get(2), ...s.ltU, s.brIf, 0, ...s.end, ...s.end];
  return [...uleb(content.length), ...content];
}

interface Api {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { readonly exports: Record<string, unknown> };
}

/** The copies, instantiated in `memory` (a shared WebAssembly.Memory): byte addresses, end − dst a multiple of 32. */
export function simdCopies(memory: object): Record<Kind, (src: number, dst: number, end: number) => void> {
  const bytes = Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 3, I32, I32, I32, 0]),
    ...section(2, [1, ...name("env"), ...name("mem"), 0x02, 0x03, ...uleb(1), ...uleb(65536)]),
    ...section(3, [3, 0, 0, 0]),
    ...section(7, [3, ...name("narrow"), 0x00, 0, ...name("copy16"), 0x00, 1, ...name("widen"), 0x00, 2]),
    ...section(10, [3, ...body("narrow"), ...body("copy16"), ...body("widen")]),
  ]);
  const wasm = (globalThis as unknown as { WebAssembly: Api }).WebAssembly;
  const exports = new wasm.Instance(new wasm.Module(bytes), { env: { mem: memory } }).exports;
  return { narrow: exports.narrow as never, copy16: exports.copy16 as never, widen: exports.widen as never };
}
