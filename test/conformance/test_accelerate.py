"""A resharded export (--max-shard-size) loads with accelerate's init_empty_weights + load_checkpoint_and_dispatch
and with transformers' from_pretrained."""

from __future__ import annotations

import json

import pytest
from accelerate import init_empty_weights, load_checkpoint_and_dispatch
from transformers import AutoConfig, AutoModelForCausalLM

from checks import DTYPES, assert_bits_equal, assert_clean_load, assert_state_dicts_identical, capture_warnings, load, \
    logits, rust_tensors
from truecast_cli import export

CASES = [("llama", "float32", "keep"), ("llama_tied", "bfloat16", "keep"), ("gpt2", "float32", "bfloat16"),
         ("qwen2", "bfloat16", "float32"), ("gemma", "float32", "float16")]


@pytest.mark.parametrize("arch,src_dtype,dtype", CASES, ids=["-".join(c) for c in CASES])
def test_load_checkpoint_and_dispatch(arch, src_dtype, dtype, hf_model, reference, tmp_path):
    src = hf_model(arch, dtype=DTYPES[src_dtype])
    out = tmp_path / "out"
    export(src, out, "--dtype", dtype, "--max-shard-size", "20KB", "--quiet")
    index = json.loads((out / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) >= 3 and shards == sorted(p.name for p in out.glob("*.safetensors"))
    assert index["metadata"]["total_size"] == sum(t.numel() * t.element_size() for t in rust_tensors(out).values())

    want = DTYPES[src_dtype if dtype == "keep" else dtype]
    config = AutoConfig.from_pretrained(out)
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config, torch_dtype=want)
    model.tie_weights()
    with capture_warnings() as logs:
        model = load_checkpoint_and_dispatch(model, str(out), device_map="auto")
    assert not logs, "\n".join(logs)
    model.eval()

    ref = reference(src, None if dtype == "keep" else dtype)
    assert_state_dicts_identical(model.state_dict(), ref.state_dict)
    assert_bits_equal(logits(model), ref.logits, "logits")

    # transformers reads the same shards and index.
    model, info, logs = load(out, torch_dtype="auto")
    assert_clean_load(info, logs)
    assert model.dtype == want
    assert_state_dicts_identical(model.state_dict(), ref.state_dict)
