"""Running the built CLI (dist/src/cli/main.js) from the conformance tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / "dist" / "src" / "cli" / "main.js"


def export(src, out, *args, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """`truecast export src out *args` with the built CLI (output captured as text)."""
    return truecast("export", src, out, *args, check=check, env=env)


def truecast(*args, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Any truecast command with the built CLI."""
    cmd = ["node", str(CLI), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}",
                    pytrace=False)
    return proc
