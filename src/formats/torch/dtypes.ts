/**
 * torch's storage classes and dtype objects, with the element type each stands for, spelled as safetensors
 * spells dtypes (C128 has no safetensors name; the caller refuses it). Knows nothing else of the project.
 */

export interface TorchElementType {
  /** Safetensors spelling (`BF16`), or `C128` for complex128. */
  readonly dtype: string;
  readonly itemSize: number;
}

const el = (dtype: string, itemSize: number): TorchElementType => ({ dtype, itemSize });

/** `torch.<Name>Storage` → element type. `UntypedStorage` holds bytes; `_rebuild_tensor_v3` gives the dtype. */
export const STORAGE_CLASSES: ReadonlyMap<string, TorchElementType> = new Map([
  ["FloatStorage", el("F32", 4)],
  ["HalfStorage", el("F16", 2)],
  ["BFloat16Storage", el("BF16", 2)],
  ["DoubleStorage", el("F64", 8)],
  ["LongStorage", el("I64", 8)],
  ["IntStorage", el("I32", 4)],
  ["ShortStorage", el("I16", 2)],
  ["CharStorage", el("I8", 1)],
  ["ByteStorage", el("U8", 1)],
  ["BoolStorage", el("BOOL", 1)],
  ["ComplexFloatStorage", el("C64", 8)],
  ["ComplexDoubleStorage", el("C128", 16)],
  ["UntypedStorage", el("U8", 1)],
]);

/** `torch.<name>` dtype objects (as `_rebuild_tensor_v3` and plain values pickle them) → element type. */
export const DTYPE_OBJECTS: ReadonlyMap<string, TorchElementType> = new Map([
  ["float32", el("F32", 4)], ["float", el("F32", 4)],
  ["float16", el("F16", 2)], ["half", el("F16", 2)],
  ["bfloat16", el("BF16", 2)],
  ["float64", el("F64", 8)], ["double", el("F64", 8)],
  ["int64", el("I64", 8)], ["long", el("I64", 8)],
  ["int32", el("I32", 4)], ["int", el("I32", 4)],
  ["int16", el("I16", 2)], ["short", el("I16", 2)],
  ["int8", el("I8", 1)],
  ["uint8", el("U8", 1)],
  ["uint16", el("U16", 2)],
  ["uint32", el("U32", 4)],
  ["uint64", el("U64", 8)],
  ["bool", el("BOOL", 1)],
  ["complex64", el("C64", 8)], ["cfloat", el("C64", 8)],
  ["complex128", el("C128", 16)], ["cdouble", el("C128", 16)],
  ["float8_e4m3fn", el("F8_E4M3", 1)],
  ["float8_e5m2", el("F8_E5M2", 1)],
  ["float8_e4m3fnuz", el("F8_E4M3FNUZ", 1)],
  ["float8_e5m2fnuz", el("F8_E5M2FNUZ", 1)],
  ["float8_e8m0fnu", el("F8_E8M0", 1)],
]);
