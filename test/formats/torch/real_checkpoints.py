"""Writes real torch.save checkpoints for test/formats/torch/real-checkpoints.test.ts (run at test time).

usage: real_checkpoints.py OUT_DIR
  many.pt   a state dict of 100,000 tensors with module metadata, like a very large model's (plus parameters)
  views.pt  strided views of shared storages; views/<name>.bin holds each view's .contiguous() bytes
"""
import os
import sys
from collections import OrderedDict

import torch

out = sys.argv[1]

sd = OrderedDict()
sd._metadata = OrderedDict()
for i in range(50_000):
    sd[f"model.layers.{i}.self_attn.q_proj.weight"] = torch.zeros(2, 2, dtype=torch.bfloat16)
    sd[f"model.layers.{i}.input_layernorm.weight"] = torch.ones(2)
    sd._metadata[f"model.layers.{i}"] = {"version": 1}
sd["lm_head.weight"] = torch.nn.Parameter(torch.zeros(3, 2))
torch.save(sd, os.path.join(out, "many.pt"))

g = torch.Generator().manual_seed(7)
big = torch.randn(6 * 1024 * 1024 // 4 * 33, generator=g)  # big[::33] is a 6 MB view
mat = torch.arange(0, 300 * 200, dtype=torch.float32).reshape(300, 200)
cube = torch.randint(-30000, 30000, (6, 7, 8), dtype=torch.int16, generator=g)
small = torch.arange(5, dtype=torch.float32)
views = {
    "every33": big[::33],
    "transposed": mat.t(),
    "narrow": mat.narrow(1, 17, 50),
    "rows": mat[10:250:3, 5:150:2],
    "expand": small.unsqueeze(0).expand(4, 5),
    "expand_mid": small.reshape(5, 1).expand(5, 3),
    "offset": mat[123],
    "permuted": cube.permute(2, 0, 1),
    "bytes_cols": torch.arange(256, dtype=torch.uint8).reshape(16, 16)[:, ::5],
}
torch.save(views, os.path.join(out, "views.pt"))
os.makedirs(os.path.join(out, "views"), exist_ok=True)
for name, t in views.items():
    with open(os.path.join(out, "views", name + ".bin"), "wb") as f:
        f.write(t.contiguous().numpy().tobytes())
    print(name, tuple(t.shape), t.stride(), t.storage_offset())
