"""Writes very wide strided views by real torch.save for test/formats/torch/wide-views.test.ts (run at test time).

usage: wide_views.py OUT_DIR
  wide.pt  views whose tiles are a few bytes at the test's span bound (random bits: NaN payloads must survive)
  wide/<name>.bin  each view's .contiguous() bytes
  small.pt  the two views that share a storage, alone (6 MB, read from a Hub double in the test)
  Views: a transposed 72 MiB float32 weight (over the default 64 MiB span bound too); two views sharing one bfloat16
  storage; odd-sized, offset views of 1-byte, 2-byte and 8-byte dtypes; a 3-D permute.
"""
import os
import sys

import torch

out = sys.argv[1]
g = torch.Generator().manual_seed(29)


def bits(shape, dtype):
    """Random bits of every pattern, as `dtype`."""
    width = torch.tensor([], dtype=dtype).element_size()
    ints = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[width]
    lo, hi = -(2 ** (8 * width - 1)), 2 ** (8 * width - 1) - 1
    return torch.randint(lo, hi, shape, dtype=ints, generator=g).view(dtype)


weight = bits((9216, 2048), torch.float32)  # 72 MiB: [2048, 9216] view, rows of 36 KiB
shared = bits((1531, 1999), torch.bfloat16)  # one storage, two views
views = {
    "wide_t": weight.t(),
    "shared_t": shared.t(),
    "shared_slice_t": shared[7:1500, 3:1990].t(),
    "bytes_t": bits((1023, 4097), torch.int8)[1:, 2:].t(),
    "doubles_t": bits((333, 2049), torch.float64)[5:331].t(),
    "permuted": bits((12, 97, 1031), torch.float16).permute(2, 0, 1),
}
torch.save(views, os.path.join(out, "wide.pt"))
torch.save({k: views[k] for k in ("shared_t", "shared_slice_t")}, os.path.join(out, "small.pt"))
os.makedirs(os.path.join(out, "wide"), exist_ok=True)
for name, t in views.items():
    c = t.contiguous()
    width = c.element_size()
    c = c.view({1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[width])
    with open(os.path.join(out, "wide", name + ".bin"), "wb") as f:
        f.write(c.numpy().tobytes())
    print(name, tuple(t.shape), t.stride(), t.storage_offset())
