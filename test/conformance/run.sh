#!/usr/bin/env bash
# Conformance suite: exports tiny models made by real transformers/PEFT with the built CLI and loads the output
# back with the real Python libraries. Run by `npm test` (after the node suite) on a fresh Debian 12 machine:
# it installs what it needs and never skips; if the environment cannot be made, it fails loudly.
#
#   test/conformance/run.sh [pytest args...]     e.g. -k llama, -x
#   test/conformance/run.sh --setup-only         make the environment (torch, the venv) and stop
#
# Environment: TRUECAST_CONFORMANCE_PYTHON (default /usr/bin/python3, which must have Debian's torch 1.13 or get it).
set -euo pipefail
cd "$(dirname "$0")/../.."

PY="${TRUECAST_CONFORMANCE_PYTHON:-/usr/bin/python3}"
VENV=.venv-conformance
REQ=test/conformance/requirements.txt
CLI=dist/src/cli/main.js
STAMP="$VENV/.truecast-requirements"

fail() {
  echo "conformance: FAILED: $*" >&2
  exit 1
}
say() { echo "conformance: $*" >&2; }

[ -f "$CLI" ] || fail "$CLI is missing: build first (npm run build)"
[ -x "$PY" ] || fail "$PY not found: the suite needs Debian 12's python3 with python3-torch"

# 1. torch (and venv) from Debian. CI runs as root on a clean machine; elsewhere ask for it to be installed.
if ! "$PY" -c "import torch" 2>/dev/null || ! "$PY" -c "import ensurepip, venv" 2>/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    fail "$PY cannot import torch (or lacks venv): run, as root, apt-get install -y --no-install-recommends python3-torch python3-venv"
  fi
  say "installing Debian's python3-torch and python3-venv"
  export DEBIAN_FRONTEND=noninteractive
  pkgs=(python3-torch python3-venv)
  apt-get install -y --no-install-recommends "${pkgs[@]}" >&2 ||
    { apt-get update >&2 && apt-get install -y --no-install-recommends "${pkgs[@]}" >&2; } ||
    fail "apt-get install ${pkgs[*]} failed"
  "$PY" -c "import torch" || fail "torch still does not import after installing python3-torch"
fi

# 2. The venv, reused when it was made from the same requirements and the same interpreter.
want="$(sha256sum "$REQ" | cut -d' ' -f1) $("$PY" -c 'import sys, torch; print(sys.version.split()[0], torch.__version__)')"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  say "reusing $VENV"
else
  say "creating $VENV from $REQ"
  rm -rf "$VENV"
  "$PY" -m venv --system-site-packages "$VENV" || fail "could not create $VENV"
  # --no-deps: the requirements file is the complete list (see its header for why).
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet --no-deps -r "$REQ" >&2 ||
    { rm -rf "$VENV"; fail "pip install -r $REQ failed"; }
  "$VENV/bin/python" - <<'EOF' || { rm -rf "$VENV"; fail "the installed libraries do not import"; }
import accelerate, huggingface_hub, numpy, peft, pytest, safetensors, tokenizers, torch, transformers
EOF
  echo "$want" >"$STAMP"
fi
"$VENV/bin/python" -c 'import torch, transformers, peft, accelerate, huggingface_hub, safetensors as s
print("conformance: torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__,
      "accelerate", accelerate.__version__, "huggingface_hub", huggingface_hub.__version__, "safetensors", s.__version__)' >&2

# `--setup-only`: stop here (npm test makes the environment before the Node suite, whose tests that call real
# torch or transformers then run instead of skipping).
if [ "${1:-}" = "--setup-only" ]; then
  say "environment ready"
  exit 0
fi

# 3. The suite. pytest exits 0 only when every collected test passed (or xfailed as declared); 5 means nothing was
# collected, which is a failure here too. conftest.py turns any skip into a failure.
paths=(test/conformance)
for arg in "$@"; do [ -e "${arg%%::*}" ] && paths=(); done # the caller named the test files itself
set +e
"$VENV/bin/python" -m pytest -c test/conformance/pytest.ini "${paths[@]}" "$@"
rc=$?
set -e
case $rc in
  0) say "passed" ;;
  5) fail "pytest collected no tests" ;;
  *) fail "pytest exited with $rc" ;;
esac
