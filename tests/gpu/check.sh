#!/usr/bin/env bash
# The paper preset's GPU check in one call on a one-GPU machine (under 8 minutes on one H100/H200):
# bench step eager and compiled for R(2+1)D-10 and -18, a 20-step pretraining killed by SIGUSR1 and
# resumed bit for bit, a one-epoch fine-tune and its evaluation, peak memory (tests/gpu/check.py).
# Needs python3 with CUDA torch and torchvision, numpy, pandas, PyYAML, tqdm and matplotlib; PyAV
# is installed from .whl when it is there (tests/gpu/wheels.sh fetches it). Figures go to $OUT (or
# ./gpu-check): gpu-check.json and the logs under work/.
#   device run: bash tests/gpu/check.sh    (carry: .whl)
#   on a CPU, the same steps at a tiny size: bash tests/gpu/check.sh --tiny
set -euo pipefail
cd "$(dirname "$0")/../.."
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/cstp-site .whl/*.whl
    export PYTHONPATH="/tmp/cstp-site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
exec "${PYTHON:-python3}" tests/gpu/check.py "$@"
