#!/usr/bin/env bash
# Fetch (here, where PyPI is reachable) the wheels that benchmarks/gpu_session.sh needs on
# the device machine (Python 3.12, x86-64) and lacks there, into .whl/ (git-ignored
# through .git/info/exclude). Carry `.whl` in the device call.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .git/info .whl
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >>.git/info/exclude
PY=${PY:-python3}
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    -d .whl librosa==0.11.0 soundfile==0.14.0 soxr==1.1.0 audioread==3.1.0 decorator==5.3.1 \
    pooch==1.9.0 platformdirs==4.14.9 cffi==2.1.1 pycparser==3.12
ls -1 .whl
du -sh .whl
