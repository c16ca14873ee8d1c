"""--dtype conversions of edge values agree bit for bit with transformers' own cast (`torch_dtype=X`, which is
torch's `.to(X)`): signed zeros, subnormals, rounding ties, the largest finite values, values that overflow,
infinities. NaN is compared as NaN only: torch 1.13 is not consistent about a NaN's bits when narrowing (float16:
0x7e00|sign; bfloat16: 0xffff or 0x7fc0 depending on its vectorized or scalar path), truecast keeps the sign and
the top payload bits (see src/dtype/scalar.ts); measured by test_nan_bits_when_narrowing below."""

from __future__ import annotations

import math
import struct

import pytest
import torch

from checks import DTYPES, assert_clean_load, bits, load
from tiny_models import save_hf, tiny_model
from truecast_cli import export

WEIGHT = "model.layers.0.mlp.down_proj.weight"


def f32(bits_: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits_))[0]


EDGE_VALUES = [
    0.0, -0.0, 1.0, -1.0,
    1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, 1.0 + 2 ** -8 + 2 ** -20,  # bfloat16 ties to even, and just above a tie
    1.0 + 2 ** -11, 1.0 + 3 * 2 ** -11,  # float16 ties
    65504.0, 65519.0, 65520.0, -65520.0, 1e5,  # float16 max, below and at the overflow tie, beyond
    f32(0x7F7FFFFF), -f32(0x7F7FFFFF), f32(0x7F7F8000),  # float32 max: bfloat16 overflow (and its tie)
    2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -14 - 2 ** -25,  # float16 smallest subnormal, ties, near min normal
    f32(0x00000001), -f32(0x00000001), f32(0x00400000), f32(0x00808000),  # float32 subnormals, bf16 ties
    math.inf, -math.inf,
]


def edge_model(dtype: torch.dtype, nan: bool):
    model = tiny_model("llama", dtype=torch.float32)
    values = torch.tensor(EDGE_VALUES + ([math.nan, -math.nan] if nan else []), dtype=torch.float32)
    with torch.no_grad():
        model.get_parameter(WEIGHT).view(-1)[: len(values)] = values
    return model.to(dtype)


def assert_same_values(got: torch.Tensor, want: torch.Tensor, name: str) -> None:
    """Bits equal everywhere but at NaNs, which must be NaN in both."""
    assert got.dtype == want.dtype and got.shape == want.shape, name
    nan = torch.isnan(want)
    assert torch.equal(torch.isnan(got), nan), f"{name}: NaN positions differ"
    differ = (bits(got) != bits(want)) & ~nan
    assert not differ.any(), f"{name}: {int(differ.sum())} values differ, first at {differ.nonzero()[0].tolist()}"


CASES = [("float32", "bfloat16"), ("float32", "float16"), ("bfloat16", "float16"), ("bfloat16", "float32"),
         ("float16", "bfloat16"), ("float16", "float32")]


@pytest.mark.parametrize("src_dtype,dtype", CASES, ids=[f"{s}-{d}" for s, d in CASES])
def test_edge_values_cast_as_transformers_does(src_dtype, dtype, tmp_path):
    src = save_hf(edge_model(DTYPES[src_dtype], nan=True), tmp_path / "src")
    out = tmp_path / "out"
    export(src, out, "--dtype", dtype, "--allow-overflow", "--quiet")
    model, info, logs = load(out, torch_dtype="auto")
    assert_clean_load(info, logs)
    ref, _, _ = load(src, torch_dtype=DTYPES[dtype])
    got, want = model.state_dict(), ref.state_dict()
    assert sorted(got) == sorted(want)
    for name in want:
        assert_same_values(got[name], want[name], name)
    # The edge values are there (not a test of zeros): the weight holds infinities and NaNs.
    assert torch.isinf(got[WEIGHT]).sum() >= 2 and torch.isnan(got[WEIGHT]).sum() == 2


@pytest.mark.parametrize("src_dtype,dtype", [("float32", "bfloat16"), ("float32", "float16")])
def test_nan_bits_when_narrowing(src_dtype, dtype, tmp_path):
    """Documents the one known bit difference: a NaN's bits. truecast: quiet NaN with the source's sign and top
    payload bits. torch 1.13 `.to()`: float16 0x7e00|sign; bfloat16 0xffff (vectorized path) or 0x7fc0 (scalar)."""
    src = save_hf(edge_model(DTYPES[src_dtype], nan=True), tmp_path / "src")
    out = tmp_path / "out"
    export(src, out, "--dtype", dtype, "--quiet", "--allow-overflow")

    def nan_bits(model) -> list[int]:
        return [b & 0xFFFF for b in bits(model.get_parameter(WEIGHT).view(-1)[len(EDGE_VALUES):][:2]).tolist()]

    # NaN, then -NaN (torch's default NaN is 0x7fc00000 in float32).
    assert nan_bits(load(out, torch_dtype="auto")[0]) == {"bfloat16": [0x7FC0, 0xFFC0],
                                                          "float16": [0x7E00, 0xFE00]}[dtype]
    torch_bits = nan_bits(load(src, torch_dtype=DTYPES[dtype])[0])
    if dtype == "float16":
        assert torch_bits == [0x7E00, 0xFE00]  # the same as truecast's
    else:
        assert set(torch_bits) <= {0xFFFF, 0x7FC0}, [hex(b) for b in torch_bits]  # measured: 0xffff, 0xffff
