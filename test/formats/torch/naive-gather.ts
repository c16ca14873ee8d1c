/** The reference for strided view reads: every index in row-major order, one element at a time. */
export interface View {
  shape: number[];
  stride: number[];
  storageOffset: number;
}

/** The reference: walk every index in row-major order. */
export function naiveGather(storage: Uint8Array, itemSize: number, v: View): Uint8Array {
  const numel = v.shape.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(numel * itemSize);
  const idx = v.shape.map(() => 0);
  for (let e = 0; e < numel; e++) {
    let s = v.storageOffset;
    for (let d = 0; d < idx.length; d++) s += (idx[d] ?? 0) * (v.stride[d] ?? 0);
    out.set(storage.subarray(s * itemSize, (s + 1) * itemSize), e * itemSize);
    for (let d = idx.length - 1; d >= 0; d--) {
      idx[d] = (idx[d] ?? 0) + 1;
      if ((idx[d] ?? 0) < (v.shape[d] ?? 1)) break;
      idx[d] = 0;
    }
  }
  return out;
}
