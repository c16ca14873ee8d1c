/**
 * The body of the merge module's `rows4(scratch, right, left, rank, bytes, stride)` (wasm-module.ts): `row` for four
 * rows at once, with the same arithmetic per element (products and partial sums rounded to float32, in increasing
 * k, starting from the product of k = 0), so the bits are those of four `row` calls:
 *   scratch[m·bytes + j] = L[m,0]·R[0,j] + L[m,1]·R[1,j] + … + L[m,rank−1]·R[rank−1,j]   (m = 0..3)
 * The four rows of L are interleaved from `left`: L[0,k], L[1,k], L[2,k], L[3,k] for k = 0, 1, …, so one pointer
 * and one splatting load per row serve each k. `bytes` (one scratch row) is a positive multiple of 32 and `stride`
 * the byte length of R's rows. Eight columns a step: their sums stay in registers while k runs, and each load of R
 * serves the four rows, so the memory work per product is a quarter of `row`'s.
 */
import { i32Const as c } from "../../dtype/kernels/wasm-bytes.js";

const op = {
  loop: [0x03, 0x40], block: [0x02, 0x40], end: [0x0b], brIf: 0x0d, br: 0x0c,
  get: 0x20, set: 0x21, tee: 0x22, add: [0x6a], shl: [0x74], ltU: [0x49], geU: [0x4f],
  f32load: [0x2a, 0x02, 0x00], splat: [0xfd, 0x13], f32x4add: [0xfd, 0xe4, 0x01], f32x4mul: [0xfd, 0xe6, 0x01],
} as const;

function vload(offset: number): number[] { return [0xfd, 0x00, 0x00, offset]; }
/** `v128.load32_splat` with a constant byte offset (below 128). */
function load32Splat(offset: number): number[] { return [0xfd, 0x09, 0x02, offset]; }
function vstore(offset: number): number[] { return [0xfd, 0x0b, 0x00, offset]; }
function get(i: number): number[] { return [op.get, i]; }
function set(i: number): number[] { return [op.set, i]; }

// params 0..5; i32 locals 6..14; v128 locals 15..25
const [SCRATCH, RIGHT, LEFT, RANK, BYTES, STRIDE] = [0, 1, 2, 3, 4, 5] as const;
const [J, K, RP, P] = [6, 7, 8, 10] as const; // local 9 is unused
const LP = [11, 12, 13, 14] as const;
const ACC = [15, 16, 17, 18, 19, 20, 21, 22] as const;
const [R0, R1, S] = [23, 24, 25] as const;

/** Locals after the parameters: 9 i32, 11 v128 (the code section's local declaration). */
export const ROWS4_LOCALS = [2, 9, 0x7f, 11, 0x7b];

/** `s = splat(L[m, k])` (the pointer is at L[0, k]); then acc(2m) ⊕= s·R0 and acc(2m+1) ⊕= s·R1 (⊕ is `=` when `first`). */
function rowStep(m: number, first: boolean): number[] {
  const out = [...get(LP[0]), ...load32Splat(4 * m), ...set(S)];
  for (const [a, r] of [[ACC[2 * m] as number, R0], [ACC[2 * m + 1] as number, R1]] as const) {
    if (first) out.push(...get(S), ...get(r), ...op.f32x4mul, ...set(a));
    else out.push(...get(a), ...get(S), ...get(r), ...op.f32x4mul, ...op.f32x4add, ...set(a));
  }
  return out;
}

/** RP = RIGHT + J (first) or RP += STRIDE; R0, R1 = the eight columns of R's row. */
function loadRight(first: boolean): number[] {
  return [
    ...(first ? [...get(RIGHT), ...get(J), ...op.add] : [...get(RP), ...get(STRIDE), ...op.add]), op.tee, RP,
    ...vload(0), ...set(R0), ...get(RP), ...vload(16), ...set(R1),
  ];
}

export const rows4Body: number[] = [
  ...c(0), ...set(J),
  ...op.loop,
  // k = 0: the products
  ...get(LEFT), ...set(LP[0]),
  ...loadRight(true),
  ...rowStep(0, true), ...rowStep(1, true), ...rowStep(2, true), ...rowStep(3, true),
  // k = 1 .. rank-1: add the products
  ...c(1), ...set(K),
  ...op.block, ...op.loop,
  ...get(K), ...get(RANK), ...op.geU, op.brIf, 1,
  ...get(LP[0]), ...c(16), ...op.add, ...set(LP[0]),
  ...loadRight(false),
  ...rowStep(0, false), ...rowStep(1, false), ...rowStep(2, false), ...rowStep(3, false),
  ...get(K), ...c(1), ...op.add, ...set(K),
  op.br, 0,
  ...op.end, ...op.end,
  // store the four rows' eight sums
  ...get(SCRATCH), ...get(J), ...op.add, ...set(P),
  ...[0, 1, 2, 3].flatMap((m) => [
    ...get(P), ...get(ACC[2 * m] as number), ...vstore(0),
    ...get(P), ...get(ACC[2 * m + 1] as number), ...vstore(16),
    ...(m < 3 ? [...get(P), ...get(BYTES), ...op.add, ...set(P)] : []),
  ]),
  ...get(J), ...c(32), ...op.add, op.tee, J, ...get(BYTES), ...op.ltU, op.brIf, 0,
  ...op.end,
  ...op.end,
];
