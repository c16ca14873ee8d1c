"""Writes real torch.save checkpoints for test/formats/torch/real-checkpoints.test.ts (run at test time).

usage: real_checkpoints.py OUT_DIR
  many.pt   a state dict of 100,000 tensors with module metadata, like a very large model's (plus parameters)
  short.pt  20,000 Parameters with the shortest names ("0", "1", ...): the most budget a byte of torch's pickle needs
  llama70b.pt  a state dict shaped like Llama-2-70B's (723 tensors, real shapes), each a stride-0 view of one element
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

torch.save({str(i): torch.nn.Parameter(torch.zeros(1)) for i in range(20_000)}, os.path.join(out, "short.pt"))

h, inter, vocab, kv = 8192, 28672, 32000, 1024
one = torch.zeros(1, dtype=torch.bfloat16)
llama = OrderedDict()
llama["model.embed_tokens.weight"] = one.expand(vocab, h)
for layer in range(80):
    p = f"model.layers.{layer}."
    for name, shape in [("self_attn.q_proj", (h, h)), ("self_attn.k_proj", (kv, h)), ("self_attn.v_proj", (kv, h)),
                        ("self_attn.o_proj", (h, h)), ("mlp.gate_proj", (inter, h)), ("mlp.up_proj", (inter, h)),
                        ("mlp.down_proj", (h, inter)), ("input_layernorm", (h,)), ("post_attention_layernorm", (h,))]:
        llama[p + name + ".weight"] = one.expand(*shape)
llama["model.norm.weight"] = one.expand(h)
llama["lm_head.weight"] = one.expand(vocab, h)
torch.save(llama, os.path.join(out, "llama70b.pt"))

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
