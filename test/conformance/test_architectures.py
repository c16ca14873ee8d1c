"""Every architecture, every --dtype: transformers loads the output cleanly and bit-identically to the source."""

from __future__ import annotations

import json

import pytest
import torch

from checks import DTYPES, assert_bits_equal, assert_clean_load, assert_state_dicts_identical, load, logits, \
    rust_tensors
from tiny_models import ARCHS, save_hf, tiny_model
from truecast_cli import export

# (source dtype, --dtype): a float32 source in every output dtype; a bfloat16 source kept, narrowed and widened;
# a float16 source kept (test_casts.py converts float16 sources).
DTYPE_CASES = [("float32", "keep"), ("float32", "bfloat16"), ("float32", "float16"), ("float32", "float32"),
               ("bfloat16", "keep"), ("bfloat16", "float16"), ("bfloat16", "float32"), ("float16", "keep")]


def written_dtype(src_dtype: str, dtype: str) -> str:
    return src_dtype if dtype == "keep" else dtype


@pytest.mark.parametrize("src_dtype,dtype", DTYPE_CASES, ids=[f"{s}-{d}" for s, d in DTYPE_CASES])
@pytest.mark.parametrize("arch", list(ARCHS))
def test_export_loads_bit_identical(arch, src_dtype, dtype, hf_model, reference, tmp_path):
    src = hf_model(arch, dtype=DTYPES[src_dtype])
    out = tmp_path / "out"
    export(src, out, "--dtype", dtype, "--quiet")
    want = written_dtype(src_dtype, dtype)

    # config.json announces the written dtype, and torch_dtype="auto" loads in it.
    config = json.loads((out / "config.json").read_text())
    assert config["torch_dtype"] == want
    model, info, logs = load(out, torch_dtype="auto")
    assert_clean_load(info, logs)
    assert model.dtype == DTYPES[want]

    # The same weights and logits as the source loaded by transformers in that dtype.
    ref = reference(src, None if dtype == "keep" else dtype)
    assert_state_dicts_identical(model.state_dict(), ref.state_dict)
    assert_bits_equal(logits(model), ref.logits, "logits")

    # The Rust reader reads every shard, with the same bits; only tied duplicates are left out.
    tensors = rust_tensors(out)
    for name, t in tensors.items():
        assert_bits_equal(t, ref.state_dict[name], name)
    left_out = set(ref.state_dict) - set(tensors)
    assert left_out <= set(ref.tied), f"not written: {sorted(left_out - set(ref.tied))}"
    for name in tensors:
        assert tensors[name].dtype == DTYPES[want] or not tensors[name].is_floating_point()


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_float16_overflow_needs_allow_overflow(arch, tmp_path):
    """A bfloat16 value beyond float16's range is refused by default and becomes inf only when allowed, exactly
    where transformers' own cast (torch_dtype=float16) puts it."""
    model = tiny_model(arch, dtype=torch.bfloat16)
    with torch.no_grad():
        model.get_parameter(BIG_VALUE_AT[arch]).view(-1)[5] = 1e5
    src = save_hf(model, tmp_path / "src")
    refused = export(src, tmp_path / "refused", "--dtype", "float16", check=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith("truecast: ") and "--allow-overflow" in refused.stderr
    assert not (tmp_path / "refused").exists()

    out = tmp_path / "out"
    export(src, out, "--dtype", "float16", "--allow-overflow", "--quiet")
    model, info, logs = load(out, torch_dtype="auto")
    assert_clean_load(info, logs)
    ref, _, _ = load(src, torch_dtype=torch.float16)
    assert_state_dicts_identical(model.state_dict(), ref.state_dict())
    assert torch.isinf(model.state_dict()[BIG_VALUE_AT[arch]]).sum() == 1


BIG_VALUE_AT = {"llama": "model.layers.0.mlp.down_proj.weight", "gpt2": "transformer.h.0.mlp.c_proj.weight"}
