"""Reference for the LoRA merge benchmark: what a PyTorch user writes to merge a PEFT adapter into a bfloat16
safetensors folder without loading the whole model (the `safetensors` package is not installed here, so bytes are
read with numpy.fromfile and the files are written by hand, as the safetensors writer lays them out).

Per weight, as PEFT merges on CPU:  merged = (W.float() + scaling * (B.float() @ A.float())).to(torch.bfloat16)

Usage: /usr/bin/python3 bench/reference/torch_lora_merge.py <base folder> <adapter folder> <out folder>
"""
import json
import os
import shutil
import struct
import sys

import numpy as np
import torch

PREFIX = "base_model.model."


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    return header, 8 + n


def load(path, start, entry):
    b, e = entry["data_offsets"]
    if entry["dtype"] == "BF16":
        raw = np.fromfile(path, dtype=np.int16, count=(e - b) // 2, offset=start + b)
        return torch.from_numpy(raw).view(torch.bfloat16).reshape(entry["shape"])
    assert entry["dtype"] == "F32", entry["dtype"]
    return torch.from_numpy(np.fromfile(path, dtype=np.float32, count=(e - b) // 4, offset=start + b)).reshape(entry["shape"])


def main():
    base, adapter_dir, out = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        cfg = json.load(f)
    scaling = cfg["lora_alpha"] / cfg["r"]
    apath = os.path.join(adapter_dir, "adapter_model.safetensors")
    aheader, astart = read_header(apath)
    aheader.pop("__metadata__", None)
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(base)):
        src = os.path.join(base, name)
        if not name.endswith(".safetensors"):
            shutil.copy(src, os.path.join(out, name))
            continue
        header, start = read_header(src)
        meta = header.pop("__metadata__", None)
        order = sorted(header, key=lambda k: header[k]["data_offsets"][0])
        text = json.dumps({**({"__metadata__": meta} if meta is not None else {}), **header}, separators=(",", ":")).encode()
        text += b" " * ((8 - len(text) % 8) % 8)
        with open(os.path.join(out, name), "wb") as w:
            w.write(struct.pack("<Q", len(text)))
            w.write(text)
            for key in order:
                W = load(src, start, header[key])
                module = key[: -len(".weight")]
                a_key = PREFIX + module + ".lora_A.weight"
                if a_key in aheader:
                    A = load(apath, astart, aheader[a_key])
                    B = load(apath, astart, aheader[PREFIX + module + ".lora_B.weight"])
                    W = (W.float() + scaling * (B.float() @ A.float())).to(torch.bfloat16)
                w.write(W.contiguous().view(torch.int16).numpy().tobytes())


if __name__ == "__main__":
    main()
