"""The project's Hub double (test/support/hub-double*.ts) as a process the Python client can talk to, and
huggingface_hub pointed at it.

`serve_double()` starts `node dist/test/support/hub-double-serve.js`, which prints one JSON line with its URL and
tokens, and stops it when the context exits (stdin closed). `online(url)` lets huggingface_hub reach it: the suite
runs with HF_HUB_OFFLINE=1 (conftest.py), and huggingface_hub reads that when it builds its HTTP session.
"""
import contextlib
import json
import subprocess

from truecast_cli import REPO

SERVE = REPO / "dist" / "test" / "support" / "hub-double-serve.js"


@contextlib.contextmanager
def serve_double(*args):
    """The double on 127.0.0.1: yields {"url", "storageUrl", "token", "readToken", "user"}."""
    assert SERVE.is_file(), f"{SERVE} is missing: run `npm run build` first"
    proc = subprocess.Popen(["node", str(SERVE), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"the Hub double did not start: {proc.stderr.read()}")
        yield json.loads(line)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@contextlib.contextmanager
def online(monkeypatch, cache_dir, endpoint):
    """huggingface_hub allowed on the network (only the double is reachable) with its cache in `cache_dir`.
    Calls take `endpoint=` explicitly, except one that huggingface_hub 0.24 sends to the endpoint it read from
    HF_ENDPOINT at import (create_commit's README.md check, /api/validate-yaml): that one is pointed here."""
    from huggingface_hub import constants, hf_api
    from huggingface_hub.utils import reset_sessions
    monkeypatch.setattr(hf_api, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache_dir))
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", True)
    reset_sessions()
    try:
        yield
    finally:
        monkeypatch.undo()
        reset_sessions()


def cli_env(hub):
    """Environment for `truecast publish/export --push` against the double."""
    return {"HF_TOKEN": hub["token"], "HF_ENDPOINT": hub["url"]}
