"""Shared fixtures of the conformance suite (run by test/conformance/run.sh, which `npm test` calls).

- `cli_path` (session): the built CLI, dist/src/cli/main.js.
- `export(src, out, *args, check=True)` (`from truecast_cli import export`): runs `node <cli> export src out
  *args` and returns the CompletedProcess; with check=True a non-zero exit fails the test with the CLI's output.
- `workdir` (session): a scratch folder shared by the session, for models built once and reused.
- `hf_model(arch, ...)` (session factory): a tiny model saved with save_pretrained, built once per arguments.
- `reference(src, dtype=None)` (session factory): state dict, logits and tied names of the source as transformers
  loads it (torch_dtype=dtype or "auto").
Builders live in tiny_models.py, load/compare helpers in checks.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from checks import DTYPES, assert_clean_load, load, logits
from tiny_models import save_hf, tiny_model
from truecast_cli import CLI

# One thread: results do not depend on the machine's core count, and the suite shares 2 cores politely.
torch.set_num_threads(1)
torch.manual_seed(0)
# Nothing in this suite may reach the network; transformers and huggingface_hub must work from local folders.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def cli_path() -> Path:
    assert CLI.is_file(), f"{CLI} is missing: run `npm run build` first"
    return CLI


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("conformance")


@pytest.fixture(scope="session")
def hf_model(workdir, cli_path):
    """Factory: `hf_model(arch, dtype=torch.float32, safe=True, max_shard_size=None, **config_overrides)` -> the
    folder save_pretrained wrote for that tiny model, built once per distinct arguments in the session."""
    cache: dict[tuple, Path] = {}

    def make(arch: str, dtype: torch.dtype = torch.float32, safe: bool = True, max_shard_size: str | None = None,
             **overrides) -> Path:
        key = (arch, dtype, safe, max_shard_size, repr(sorted(overrides.items())))
        if key not in cache:
            name = f"{arch}-{str(dtype).split('.')[-1]}-{'st' if safe else 'bin'}-{max_shard_size or 'one'}-{len(cache)}"
            cache[key] = save_hf(tiny_model(arch, dtype=dtype, **overrides), workdir / "src" / name, safe=safe,
                                 max_shard_size=max_shard_size)
        return cache[key]

    return make


class Reference:
    """What transformers makes of a source folder: its state dict, logits on the fixed input, and the names that
    are tied to an earlier name (same storage)."""

    def __init__(self, model, logs: list[str]) -> None:
        self.logs = logs
        self.state_dict = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.logits = logits(model)
        first: dict[int, str] = {}
        self.tied = []
        for k, v in model.state_dict().items():
            if v.data_ptr() in first:
                self.tied.append(k)
            first.setdefault(v.data_ptr(), k)


@pytest.fixture(scope="session")
def reference():
    """Factory: `reference(src_folder, dtype=None, allow_logs=False)` -> Reference of `from_pretrained(src_folder,
    torch_dtype=dtype or "auto")`, loaded once per session; the load itself must be clean (no warning logged
    either, unless allow_logs: then the warnings are in `.logs`)."""
    cache: dict[tuple, Reference] = {}

    def get(src: Path, dtype: str | None = None, allow_logs: bool = False) -> Reference:
        key = (str(src), dtype)
        if key not in cache:
            model, info, logs = load(src, torch_dtype=DTYPES[dtype] if dtype else "auto")
            assert_clean_load(info, [])
            cache[key] = Reference(model, logs)
        assert allow_logs or not cache[key].logs, "warnings loading the source:\n" + "\n".join(cache[key].logs)
        return cache[key]

    return get


def pytest_sessionfinish(session, exitstatus):
    """A skipped test is a failure here: the environment is made by run.sh, so nothing has a reason to skip."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and exitstatus == 0:
        reporter.write_line(f"conformance: {len(skipped)} test(s) skipped; a skip counts as a failure", red=True)
        session.exitstatus = 1
