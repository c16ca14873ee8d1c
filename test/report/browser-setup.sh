#!/usr/bin/env bash
# Makes sure the report page's browser tests have a browser: Debian's `chromium`, driven by playwright-core (an npm
# devDependency that downloads nothing). Run by `npm test` before the Node suite, on a fresh Debian 12 machine too:
# as root it installs chromium with apt-get; otherwise it fails with one line saying what to install. Never skips.
#
# Environment: TRUECAST_CHROMIUM, a chromium binary to use instead of /usr/bin/chromium.
set -euo pipefail

fail() {
  echo "browser tests: FAILED: $*" >&2
  exit 1
}

bin="${TRUECAST_CHROMIUM:-/usr/bin/chromium}"
if [ -n "${TRUECAST_CHROMIUM:-}" ] && [ ! -x "$bin" ]; then fail "TRUECAST_CHROMIUM=$bin is not an executable file"; fi
if [ ! -x "$bin" ] && [ -x /usr/bin/chromium-browser ]; then bin=/usr/bin/chromium-browser; fi
if [ ! -x "$bin" ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    fail "chromium is not installed: run, as root, apt-get install -y chromium (or set TRUECAST_CHROMIUM to a chromium binary)"
  fi
  echo "browser tests: installing Debian's chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends chromium >&2 ||
    { apt-get update >&2 && apt-get install -y --no-install-recommends chromium >&2; } ||
    fail "apt-get install chromium failed"
  bin=/usr/bin/chromium
  [ -x "$bin" ] || fail "chromium still missing at $bin after apt-get install chromium"
fi
# A browser that cannot start headless is a failure here, not in the middle of the suite.
"$bin" --version >/dev/null 2>&1 || fail "$bin --version failed: the chromium install is broken"
echo "browser tests: $("$bin" --version 2>/dev/null | head -1)" >&2
