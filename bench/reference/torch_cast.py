"""Reference for the float32 -> bfloat16 benchmark: PyTorch converts each tensor with .to(torch.bfloat16)
and writes the bytes into a safetensors file per shard (header written as the safetensors writer does).
Usage: /usr/bin/python3 bench/reference/torch_cast.py <src folder> <out folder>
"""
import json
import os
import struct
import sys

import numpy as np
import torch

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
for name in sorted(os.listdir(src)):
    if not name.endswith(".safetensors"):
        continue
    path = os.path.join(src, name)
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    start = 8 + n
    meta = header.pop("__metadata__", None)
    items = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    new_header, offset = {}, 0
    if meta is not None:
        new_header["__metadata__"] = meta
    for k, v in sorted(items, key=lambda kv: kv[0]):
        numel = 1
        for d in v["shape"]:
            numel *= d
        new_header[k] = {"dtype": "BF16", "shape": v["shape"], "data_offsets": [offset, offset + numel * 2]}
        offset += numel * 2
    js = json.dumps(new_header, separators=(",", ":")).encode()
    js += b" " * ((8 - len(js) % 8) % 8)
    with open(os.path.join(out, name), "wb") as w:
        w.write(struct.pack("<Q", len(js)))
        w.write(js)
        for k, v in sorted(items, key=lambda kv: kv[0]):
            b, e = v["data_offsets"]
            t = torch.from_numpy(np.fromfile(path, dtype=np.float32, count=(e - b) // 4, offset=start + b))
            w.write(t.to(torch.bfloat16).view(torch.int16).numpy().tobytes())
