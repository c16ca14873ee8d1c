"""Writes strided views by real torch.save for test/formats/torch/strided-views.test.ts (run at test time).

usage: strided_views.py OUT_DIR
  strided.pt  views whose innermost stride is not 1 (bf16 as raw bits: numpy has no bfloat16)
  strided/<name>.bin  each view's .contiguous() bytes
  strided_big.pt  two 40 MiB views (transposed, permuted), read with a 4 MiB span bound in the test
"""
import os
import sys

import torch

out = sys.argv[1]
g = torch.Generator().manual_seed(13)
# bf16 with random bits (NaN payloads included): bytes must survive untouched
w = torch.randint(-32768, 32768, (1024, 2048), dtype=torch.int16, generator=g).view(torch.bfloat16)
big = torch.randint(-32768, 32768, (300, 700), dtype=torch.int16, generator=g).view(torch.bfloat16)
cube = torch.randn(5, 6, 7, generator=g, dtype=torch.float64)
x = torch.randn(40, 90, generator=g)
views = {
    "transposed": w.t(),  # 4 MiB, innermost stride 2048
    "big_transposed": big.t(),  # read with a small span bound in the test
    "permuted": cube.permute(2, 0, 1),
    "every3": x[:, ::3],
    "offset_t": x[7:31, 11:80].t(),
}
torch.save(views, os.path.join(out, "strided.pt"))
os.makedirs(os.path.join(out, "strided"), exist_ok=True)
for name, t in views.items():
    c = t.contiguous()
    if c.dtype == torch.bfloat16:
        c = c.view(torch.int16)
    with open(os.path.join(out, "strided", name + ".bin"), "wb") as f:
        f.write(c.numpy().tobytes())
    print(name, tuple(t.shape), t.stride(), t.storage_offset())

# 40 MiB each: a transpose and a 3-D permute whose spans are 10x the bound the test sets
wide = torch.randint(-32768, 32768, (2048, 10240), dtype=torch.int16, generator=g).view(torch.bfloat16)
deep = torch.randint(-(2**31), 2**31 - 1, (10, 64, 16384), dtype=torch.int32, generator=g).view(torch.float32)
bigviews = {"big_t": wide.t(), "big_p": deep.permute(2, 0, 1)}
torch.save(bigviews, os.path.join(out, "strided_big.pt"))
for name, t in bigviews.items():
    c = t.contiguous()
    if c.dtype == torch.bfloat16:
        c = c.view(torch.int16)
    with open(os.path.join(out, "strided", name + ".bin"), "wb") as f:
        f.write(c.numpy().tobytes())
    print(name, tuple(t.shape), t.stride(), t.storage_offset())
