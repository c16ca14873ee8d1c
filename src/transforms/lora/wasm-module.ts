/**
 * The WebAssembly module of the SIMD kernels (simd-kernel.ts), assembled here byte by byte (no build step, no
 * dependency). It exports its memory and two functions, with byte offsets into the memory:
 *
 * `row(scratch, right, leftRow, rank, bytes, stride)`: `acc[j] = Σ_k fround(L[i,k] · R[k,j])`, products and
 * partial sums rounded to float32 in increasing k, exactly the arithmetic of kernel.ts (IEEE float32 multiply and
 * add, round-to-nearest-even, per lane):
 *   scratch[0..bytes) = L[0]·R[0, ·];  for k in 1..rank: scratch += fround(L[k] · R[k, ·])
 * `bytes` is a positive multiple of 16, `stride` the byte length of R's rows.
 *
 * `rows4(...)`: `row` for four rows at once, same bits (wasm-rows4.ts).
 *
 * `bf16Epilogue(...)`: see its comment below.
 */
import { i32Const as c, name, section, uleb } from "../../dtype/kernels/wasm-bytes.js";
import { ROWS4_LOCALS, rows4Body } from "./wasm-rows4.js";

const I32 = 0x7f;
const V128 = 0x7b;
const op = {
  block: [0x02, 0x40], loop: [0x03, 0x40], end: [0x0b], br: 0x0c, brIf: 0x0d,
  get: 0x20, set: 0x21, tee: 0x22, i32const: 0x41, add: [0x6a], shl: [0x74], ltU: [0x49], geU: [0x4f],
  f32load: [0x2a, 0x02, 0x00], v128load: [0xfd, 0x00, 0x00, 0x00], v128store: [0xfd, 0x0b, 0x00, 0x00],
  splat: [0xfd, 0x13], f32x4add: [0xfd, 0xe4, 0x01], f32x4mul: [0xfd, 0xe6, 0x01],
  f32x4eq: [0xfd, 0x41], f32x4ne: [0xfd, 0x42], f32x4lt: [0xfd, 0x43], f32x4abs: [0xfd, 0xe0, 0x01], and: [0xfd, 0x4e],
  extendLowU: [0xfd, 0xa9, 0x01], extendHighU: [0xfd, 0xaa, 0x01], i32x4shl: [0xfd, 0xab, 0x01],
  narrow32: [0xfd, 0x85, 0x01], narrow16: [0xfd, 0x65], i8x16abs: [0xfd, 0x60], allTrue: [0xfd, 0xa3, 0x01],
  i32x4splat: [0xfd, 0x11], i32x4eq: [0xfd, 0x37], not: [0xfd, 0x4d], i32x4shrU: [0xfd, 0xad, 0x01],
  i32x4add: [0xfd, 0xae, 0x01], i32x4sub: [0xfd, 0xb1, 0x01], f32x4sub: [0xfd, 0xe5, 0x01], f32x4ge: [0xfd, 0x46],
  f32x4max: [0xfd, 0xe9, 0x01], narrow32U: [0xfd, 0x86, 0x01], promoteLow: [0xfd, 0x5f], f64x2div: [0xfd, 0xf3, 0x01],
  f64x2max: [0xfd, 0xf5, 0x01], f32x4pmax: [0xfd, 0xeb, 0x01], i32x4abs: [0xfd, 0xa0, 0x01], i32x4gtS: [0xfd, 0x3b],
  anyTrue: [0xfd, 0x53], f64x2extract: (lane: number) => [0xfd, 0x21, lane], if: [0x04, 0x40],
  sub: [0x6b], f64max: [0xa5], f64mul: [0xa2], f64floor: [0x9c], i32truncSatF64S: [0xfc, 0x02],
  f64const: (x: number) => [0x44, ...new Uint8Array(new Float64Array([x]).buffer)],
  /** i8x16.shuffle(x, x): lanes 2, 3 to lanes 0, 1. */
  highHalf: [0xfd, 0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15],
} as const;

/** `v128.load` / `v128.store` with a constant byte offset (below 128: one LEB128 byte). */
function vload(offset: number): number[] { return [0xfd, 0x00, 0x00, offset]; }
function vstore(offset: number): number[] { return [0xfd, 0x0b, 0x00, offset]; }

// locals: params 0..5 = scratch, right, leftRow, rank, bytes, stride; then j, k, rp (i32) and l (v128)
const [SCRATCH, RIGHT, LEFT, RANK, BYTES, STRIDE, J, K, RP, L] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] as const;

function get(i: number): number[] { return [op.get, i]; }
function set(i: number): number[] { return [op.set, i]; }

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


/**
 * `bf16Epilogue(scratch, base, vals, touched, bytes, scale, limit, counts, minNormal, out) → ok`, 16 columns a
 * step, for a bf16 row:
 *   d = fround(scratch · scale);  vals = fround(widen(base) + d);  touched = (d ≠ 0 ? 1 : 0)
 *   out = vals rounded to bfloat16 (round to nearest even on the bits: exact for every finite value)
 * `ok` = 1 iff every minNormal ≤ |vals| < limit (NaN, ±inf, overflow and, for minNormal > 0, zeros and subnormals
 * give 0). `counts` receives i32x4 lane counters (out ≠ base; d ≠ 0 but out = base; out ≠ vals), an f32x4 of the
 * largest |out − vals| per lane and an f64x2 of the largest |out − vals| / |vals|: the cast report's fast path
 * (dtype/kernels/f32-to-bf16.ts), exact for rows that are ok. `bytes` (the float32 row length) is a positive
 * multiple of 64; `base` holds the row's bf16 bits.
 *
 * The relative error's f64x2 starts from what `counts` holds at +64 (the caller's maximum so far) and divides only
 * where an element can raise it, the cut of dtype/kernels/error-cuts.ts: in a row that is ok, each `vals` is
 * normal, `m · 2^k` with its 24-bit mantissa m ≥ 2^23, and `out` lies d = |bits(out) − bits(vals)| of its float32
 * ulps 2^k away (out is in the same binade or at the start of the next), so |out − vals| / |vals| = d / m exactly
 * and its float64 quotient is a monotone function of d / m. With M the largest quotient so far, d ≤ floor(M · 2^23)
 * − 1 gives d / m < M: that element's quotient is at most M and the division is skipped. Four columns divide
 * together when any of them passes the cut, by the same instructions as before; the maxima are those of dividing
 * every element. (Rows that are not ok are the caller's to discard, whatever their maxima.)
 */
const F32 = 0x7d;
const [E_SCR, E_BASE, E_VALS, E_TOUCH, E_BYTES, E_SCALE, E_LIMIT, E_COUNTS, E_MINN, E_OUT] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] as const;
const [E_J, E_PB, E_PT, E_PO] = [10, 11, 12, 13] as const;
const [E_S, E_LIM, E_OK, E_B, E_D, E_V, E_ZERO, E_BX, E_EQ, E_DM, E_CH, E_TS, E_ONE, E_HALF] = [14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27] as const;
const [E_MN, E_CC, E_AE, E_RE, E_W, E_A, E_P] = [28, 29, 30, 31, 32, 33, 34] as const;
const E_R = [35, 36, 37, 38] as const;
/** splat(floor(M · 2^23) − 1), M the larger lane of E_RE: elements with d at most this cannot raise M. */
const E_CUT = 39;
const V128_LOCALS = 26;

/** E_CUT from E_RE (relCut of error-cuts.ts on the larger lane; −1 while it is 0). */
const setCut = [
  ...get(E_RE), ...op.f64x2extract(0), ...get(E_RE), ...op.f64x2extract(1), ...op.f64max,
  ...op.f64const(2 ** 23), ...op.f64mul, ...op.f64floor, ...op.i32truncSatF64S, ...c(1), ...op.sub, ...op.i32x4splat, op.set, E_CUT,
];

/** Four columns: v = widen(lanes of B) + d, stored; ok; counters and error maxima; leaves `d ≠ 0` on the stack. */
function epilogueQuarter(q: number, high: boolean): number[] {
  const r = E_R[q] as number;
  return [
    ...get(E_SCR), ...get(E_J), ...op.add, ...vload(16 * q), ...get(E_S), ...op.f32x4mul, op.set, E_D,
    ...get(E_B), ...(high ? op.extendHighU : op.extendLowU), op.set, E_BX,
    ...get(E_VALS), ...get(E_J), ...op.add,
    ...get(E_BX), ...c(16), ...op.i32x4shl, ...get(E_D), ...op.f32x4add, op.tee, E_V,
    ...vstore(16 * q),
    // ok &= minNormal ≤ |v| < limit
    ...get(E_V), ...op.f32x4abs, op.set, E_P,
    ...get(E_OK), ...get(E_P), ...get(E_LIM), ...op.f32x4lt, ...op.and, ...get(E_P), ...get(E_MN), ...op.f32x4ge, ...op.and, op.set, E_OK,
    // r = (v + 0x7fff + ((v >>> 16) & 1)) >>> 16;  eq = (r = base bits)
    ...get(E_V), ...get(E_V), ...c(16), ...op.i32x4shrU, ...get(E_ONE), ...op.and, ...op.i32x4add,
    ...get(E_HALF), ...op.i32x4add, ...c(16), ...op.i32x4shrU, op.tee, r, ...get(E_BX), ...op.i32x4eq, op.set, E_EQ,
    ...get(E_CH), ...get(E_EQ), ...op.not, ...op.i32x4sub, op.set, E_CH,
    ...get(E_D), ...get(E_ZERO), ...op.f32x4ne, op.set, E_DM,
    ...get(E_TS), ...get(E_EQ), ...get(E_DM), ...op.and, ...op.i32x4sub, op.set, E_TS,
    // w = widen(r); the cast: changed iff w ≠ v; |w − v| and |w − v| / |v| (in float64, both exact inputs)
    ...get(r), ...c(16), ...op.i32x4shl, op.set, E_W,
    ...get(E_CC), ...get(E_W), ...get(E_V), ...op.f32x4ne, ...op.i32x4sub, op.set, E_CC,
    // (pmax is max here: no NaN in a row that is ok, and |w − v| is never −0)
    ...get(E_W), ...get(E_V), ...op.f32x4sub, ...op.f32x4abs, op.tee, E_A, ...get(E_AE), ...op.f32x4pmax, op.set, E_AE,
    // only where some d = |bits(w) − bits(v)| passes the cut (see above)
    ...get(E_W), ...get(E_V), ...op.i32x4sub, ...op.i32x4abs, ...get(E_CUT), ...op.i32x4gtS, ...op.anyTrue, ...op.if,
    ...get(E_RE), ...get(E_A), ...op.promoteLow, ...get(E_P), ...op.promoteLow, ...op.f64x2div, ...op.f64x2max,
    ...get(E_A), ...get(E_A), ...op.highHalf, ...op.promoteLow, ...get(E_P), ...get(E_P), ...op.highHalf, ...op.promoteLow,
    ...op.f64x2div, ...op.f64x2max, op.set, E_RE,
    ...setCut,
    ...op.end,
    ...get(E_DM),
  ];
}

const epilogueBody: number[] = [
  ...get(E_SCALE), ...op.splat, op.set, E_S, ...get(E_LIMIT), ...op.splat, op.set, E_LIM, ...get(E_MINN), ...op.splat, op.set, E_MN,
  ...get(E_ZERO), ...get(E_ZERO), ...op.f32x4eq, op.set, E_OK,
  ...c(1), ...op.i32x4splat, op.set, E_ONE, ...c(0x7fff), ...op.i32x4splat, op.set, E_HALF,
  ...get(E_BASE), op.set, E_PB, ...get(E_TOUCH), op.set, E_PT, ...get(E_OUT), op.set, E_PO,
  ...get(E_COUNTS), ...vload(64), op.set, E_RE, ...setCut,
  ...op.loop,
  ...get(E_PT),
  ...get(E_PB), ...vload(0), op.set, E_B,
  ...epilogueQuarter(0, false), ...epilogueQuarter(1, true), ...op.narrow32,
  ...get(E_PB), ...vload(16), op.set, E_B,
  ...epilogueQuarter(2, false), ...epilogueQuarter(3, true), ...op.narrow32,
  ...op.narrow16, ...op.i8x16abs, ...vstore(0),
  ...get(E_PO), ...get(E_R[0]), ...get(E_R[1]), ...op.narrow32U, ...vstore(0),
  ...get(E_PO), ...get(E_R[2]), ...get(E_R[3]), ...op.narrow32U, ...vstore(16),
  ...get(E_PB), ...c(32), ...op.add, op.set, E_PB, ...get(E_PT), ...c(16), ...op.add, op.set, E_PT,
  ...get(E_PO), ...c(32), ...op.add, op.set, E_PO,
  ...get(E_J), ...c(64), ...op.add, op.tee, E_J, ...get(E_BYTES), ...op.ltU, op.brIf, 0,
  ...op.end,
  ...get(E_COUNTS), ...get(E_CH), ...vstore(0), ...get(E_COUNTS), ...get(E_TS), ...vstore(16),
  ...get(E_COUNTS), ...get(E_CC), ...vstore(32), ...get(E_COUNTS), ...get(E_AE), ...vstore(48),
  ...get(E_COUNTS), ...get(E_RE), ...vstore(64),
  ...get(E_OK), ...op.allTrue,
  ...op.end,
];

export function moduleBytes(): Uint8Array {
  const rowFunc = [2, 3, I32, 1, V128, ...body];
  const epilogueFunc = [2, 4, I32, V128_LOCALS, V128, ...epilogueBody];
  const rows4Func = [...ROWS4_LOCALS, ...rows4Body];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [2, 0x60, 6, I32, I32, I32, I32, I32, I32, 0, 0x60, 10, I32, I32, I32, I32, I32, F32, F32, I32, F32, I32, 1, I32]),
    ...section(3, [3, 0, 1, 0]),
    ...section(5, [1, 0x00, 1]),
    ...section(7, [4, ...name("row"), 0x00, 0, ...name("bf16Epilogue"), 0x00, 1, ...name("rows4"), 0x00, 2, ...name("mem"), 0x02, 0]),
    ...section(10, [3, ...uleb(rowFunc.length), ...rowFunc, ...uleb(epilogueFunc.length), ...epilogueFunc, ...uleb(rows4Func.length), ...rows4Func]),
  ]);
}

