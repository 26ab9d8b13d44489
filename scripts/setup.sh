#!/usr/bin/env bash
# Sets up everything `move` needs on a fresh Debian/Ubuntu machine:
# system packages (when root), a .venv, the CPU build of PyTorch and the package itself.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
APT_PACKAGES="libfluidsynth3 fluid-soundfont-gm libsndfile1"
# Only the tests need a browser (the report page is checked in headless Chromium);
# `setup.sh --test` tries to install it and goes on without it (those tests then skip).
TEST_APT_PACKAGES="chromium chromium-driver"

missing=()
if command -v dpkg >/dev/null 2>&1; then
  for p in $APT_PACKAGES; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: please install these Debian packages first: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

if [ "${1:-}" = "--test" ] && command -v dpkg >/dev/null 2>&1; then
  test_missing=()
  for p in $TEST_APT_PACKAGES; do
    dpkg -s "$p" >/dev/null 2>&1 || test_missing+=("$p")
  done
  if [ ${#test_missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "setup: installing test packages: ${test_missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -qq --no-install-recommends "${test_missing[@]}" >/dev/null 2>&1 || \
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${test_missing[@]}" >/dev/null 2>&1; } || \
        echo "setup: could not install ${test_missing[*]}; the browser test of the report page will be skipped"
    else
      echo "setup: ${test_missing[*]} not installed; the browser test of the report page will be skipped"
    fi
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# The CPU build first, so that nothing later pulls the multi-GB CUDA build.
if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
  echo "setup: installing torch==$TORCH_VERSION (CPU build)"
  "$VENV/bin/python" -m pip install -q "torch==$TORCH_VERSION" || \
    "$VENV/bin/python" -m pip install -q "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
fi
echo "setup: installing move and its dependencies"
"$VENV/bin/python" -m pip install -q -e ".[dev]"
echo "setup: done"
