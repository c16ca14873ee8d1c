/**
 * The dtype table: safetensors names, torch names, config.json names, element sizes.
 * Knows nothing else of the project.
 */
export const DTYPES = [
  "BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ",
  "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64",
] as const;

/** A safetensors dtype name. */
export type DType = (typeof DTYPES)[number];

/** Floating dtypes truecast converts between (exactly, round-to-nearest-even). Every other dtype is only copied. */
export type FloatDType = "F16" | "BF16" | "F32" | "F64";

interface DTypeInfo {
  /** Size of one element in bits (sub-byte types are 4 or 6). */
  readonly bits: number;
  /** `torch.<name>` as torch spells it, or null where torch has no such dtype. */
  readonly torch: string | null;
}

const INFO: Record<DType, DTypeInfo> = {
  BOOL: { bits: 8, torch: "bool" },
  F4: { bits: 4, torch: "float4_e2m1fn_x2" },
  F6_E2M3: { bits: 6, torch: null },
  F6_E3M2: { bits: 6, torch: null },
  U8: { bits: 8, torch: "uint8" },
  I8: { bits: 8, torch: "int8" },
  F8_E5M2: { bits: 8, torch: "float8_e5m2" },
  F8_E4M3: { bits: 8, torch: "float8_e4m3fn" },
  F8_E8M0: { bits: 8, torch: "float8_e8m0fnu" },
  F8_E4M3FNUZ: { bits: 8, torch: "float8_e4m3fnuz" },
  F8_E5M2FNUZ: { bits: 8, torch: "float8_e5m2fnuz" },
  I16: { bits: 16, torch: "int16" },
  U16: { bits: 16, torch: "uint16" },
  F16: { bits: 16, torch: "float16" },
  BF16: { bits: 16, torch: "bfloat16" },
  I32: { bits: 32, torch: "int32" },
  U32: { bits: 32, torch: "uint32" },
  F32: { bits: 32, torch: "float32" },
  C64: { bits: 64, torch: "complex64" },
  F64: { bits: 64, torch: "float64" },
  I64: { bits: 64, torch: "int64" },
  U64: { bits: 64, torch: "uint64" },
};

/** Is `name` one of the safetensors dtype names truecast knows (`BF16`, `F32`, `I64`, ...)? */
export function isDType(name: string): name is DType {
  return Object.prototype.hasOwnProperty.call(INFO, name);
}

/** Is `d` a floating dtype that truecast can convert (F16, BF16, F32, F64)? */
export function isFloatDType(d: DType): d is FloatDType {
  return d === "F16" || d === "BF16" || d === "F32" || d === "F64";
}

/** Bits per element. */
export function dtypeBits(d: DType): number {
  return INFO[d].bits;
}

/**
 * Bytes per element for whole-byte dtypes; for sub-byte dtypes (F4, F6_*) use {@link byteLengthOf}.
 * Alignment used by the reference writer's sort (largest first) is this same number.
 */
export function dtypeSize(d: DType): number {
  return Math.max(1, INFO[d].bits >> 3);
}

/**
 * Exact byte length of `numel` elements of `d`, as a bigint (checked arithmetic is the caller's choice of
 * comparing with Number.MAX_SAFE_INTEGER). Sub-byte dtypes must fill whole bytes, else null.
 */
export function byteLengthOf(d: DType, numel: bigint): bigint | null {
  const bits = BigInt(INFO[d].bits) * numel;
  if (bits % 8n !== 0n) return null;
  return bits / 8n;
}

/** The torch spelling, `torch.bfloat16`, or null. */
export function torchName(d: DType): string | null {
  const t = INFO[d].torch;
  return t === null ? null : `torch.${t}`;
}

/**
 * The one spelling reports use for every dtype: torch's (`bfloat16`, `int64`, `float8_e4m3fn`), or the safetensors
 * name in lower case where torch has none (`f6_e2m3`).
 */
export function dtypeLabel(d: DType): string {
  return INFO[d].torch ?? d.toLowerCase();
}

/** The config.json spelling (`bfloat16`), for floating dtypes and others torch knows. */
export function configName(d: DType): string | null {
  return INFO[d].torch;
}

const CONFIG_TO_DTYPE: Record<string, FloatDType> = {
  float16: "F16", half: "F16", fp16: "F16",
  bfloat16: "BF16", bf16: "BF16",
  float32: "F32", float: "F32", fp32: "F32",
  float64: "F64", double: "F64", fp64: "F64",
};

/** Parse a user or config dtype name (`bfloat16`, `torch.float16`, `fp32`, `F16`) into a float dtype, or null. */
export function parseFloatDType(name: string): FloatDType | null {
  const n = name.startsWith("torch.") ? name.slice(6) : name;
  if (n === "F16" || n === "BF16" || n === "F32" || n === "F64") return n;
  return CONFIG_TO_DTYPE[n.toLowerCase()] ?? null;
}
