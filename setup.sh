#!/usr/bin/env bash
# Creates (or refreshes) .venv with the pinned environment of pyproject.toml and installs
# cstp into it in editable mode. Safe to run again: it does nothing when .venv is current.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup.sh: $python is not Python >= 3.11; set PYTHON=/path/to/python3.11" >&2
    exit 1
fi

stamp=.venv/.cstp-setup
want=$(cat pyproject.toml setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
# torch==2.14.1 / torchvision==0.29.1 are the pinned pair (see README, "Environment").
.venv/bin/python -m pip install -qq --upgrade pip
.venv/bin/python -m pip install -qq -e '.[test]'
echo "$want" > "$stamp"
echo "setup.sh: .venv is ready ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
