"""Reference for the torch-bin benchmark (issue 3): what a user does without truecast. torch.load reads the
checkpoint of a Hugging Face folder (pytorch_model.bin, or the shards listed by pytorch_model.bin.index.json)
into memory, then every tensor's bytes are written into one model.safetensors, the header written as the
safetensors writer does (8-byte little-endian length, JSON padded with spaces to 8 bytes; the safetensors
package is not installed here). Tensors are written from their own memory, without an extra copy.
Usage: /usr/bin/python3 bench/reference/torch_load_write.py <folder> <out folder>
"""
import json
import os
import struct
import sys

import torch

DTYPES = {
    torch.bfloat16: "BF16",
    torch.float16: "F16",
    torch.float32: "F32",
    torch.float64: "F64",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.int16: "I16",
    torch.int32: "I32",
    torch.int64: "I64",
    torch.bool: "BOOL",
}


def checkpoint_files(folder):
    index = os.path.join(folder, "pytorch_model.bin.index.json")
    if os.path.exists(index):
        with open(index) as f:
            return sorted(set(json.load(f)["weight_map"].values()))
    return ["pytorch_model.bin"]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: torch_load_write.py <folder> <out folder>")
    folder, out = sys.argv[1], sys.argv[2]
    sd = {}
    for name in checkpoint_files(folder):
        sd.update(torch.load(os.path.join(folder, name), map_location="cpu"))
    names = sorted(sd)
    tensors = [sd[n].contiguous() for n in names]
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for n, t in zip(names, tensors):
        size = t.numel() * t.element_size()
        header[n] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + size]}
        offset += size
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * ((8 - len(js) % 8) % 8)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "model.safetensors"), "wb") as w:
        w.write(struct.pack("<Q", len(js)))
        w.write(js)
        for t in tensors:
            # numpy has no bfloat16: view the bytes as uint8 and hand the buffer to write() without copying.
            flat = t.reshape(-1)
            if flat.numel() > 0:
                w.write(memoryview(flat.view(torch.uint8).numpy()))
    for extra in ("config.json",):
        src = os.path.join(folder, extra)
        if os.path.exists(src):
            with open(src, "rb") as r, open(os.path.join(out, extra), "wb") as w:
                w.write(r.read())


main()
