#!/usr/bin/env bash
# The checks that need a GPU, as one short script (a lent GPU machine runs it in the repository root, with
# its own PyTorch; nothing is installed). Each part writes its output under $OUT (default ./gpu_check):
#   1. the tests that have a CUDA case (resumed Adam moments keep their weights' channels_last layout),
#   2. the same tests with the layout fix taken out: they must fail on the GPU as on the CPU,
#   3. training throughput (benchmarks/bench_train.py, S1 and S4 taking turns) on the GPU: the CPU preset
#      at batch 32 and 256, and the paper's config at batch 32, each in float32 and bfloat16 autocast.
#
#   bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_check}
mkdir -p "$OUT"
export PYTHONPATH=src PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  $PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"; } | tee "$OUT/device.txt"

$PY -m pytest -q -p no:cacheprovider tests/test_trainer.py -k cuda -rs 2>&1 | tail -5 | tee "$OUT/tests_cuda.txt"

$PY - <<'EOF' 2>&1 | tail -3 | tee "$OUT/tests_cuda_without_fix.txt"
import sys

import pytest

import handvae.checkpoint as ck

ck._match_param_layouts = lambda optimizer: None  # the fix taken out
code = pytest.main(["-q", "-p", "no:cacheprovider", "tests/test_trainer.py", "-k", "cuda"])
print("without the layout fix: " + ("the CUDA test FAILS (caught)" if code == 1 else f"pytest exit code {code}"))
EOF

bench() { $PY benchmarks/bench_train.py --device cuda --rounds 3 --steps 20 --warmup 5 "$@" \
    --compare fp32=trainer.amp=off bf16=trainer.amp=bf16; }
bench --batch 32 2>&1 | tee "$OUT/bench_cpu_preset_b32.txt"
bench --batch 256 --samples 512 2>&1 | tee "$OUT/bench_cpu_preset_b256.txt"
bench --preset paper --batch 32 2>&1 | tee "$OUT/bench_paper_b32.txt"
