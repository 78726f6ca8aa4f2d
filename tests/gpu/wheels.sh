#!/usr/bin/env bash
# Fetch, here, what the GPU machine lacks for tests/gpu/check.sh: PyAV (the device image has
# torch, torchvision, numpy, pandas, PyYAML, tqdm and matplotlib) as a wheel for its Python 3.12,
# into .whl (git-ignored through .git/info/exclude). Carry .whl with the call.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
version=$(sed -n 's/.*"av==\([0-9.]*\)".*/\1/p' pyproject.toml)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "av==$version"
ls -l .whl
