#!/usr/bin/env bash
# The whole command-line pipeline on a GPU, small: what a user with a GPU runs for the release recipe
# (configs/release/*.yaml say a GPU runs the same config). Nothing is installed: the machine's own PyTorch
# and libraries. Each stage's output goes to $OUT (default ./gpu_pipeline); a failed stage is reported and
# the later stages that do not need it still run.
#   1. the libraries the synthetic world needs;
#   2. handvae synth (64 + 16 scenes, 8 workers) and prepare (128 px crops, left hands mirrored);
#   3. handvae train release/s4 and release/s1 on CUDA for 40 steps, interrupted at 20 and resumed;
#   4. handvae evaluate of each run on CUDA and on the CPU: the same checkpoint must give the same figures;
#   5. handvae predict with the released s4 on CUDA and on the CPU, test-time rolls on (the default):
#      the same joints within 0.5 mm;
#   6. handvae export-onnx of the s4 run (checks ONNX Runtime against PyTorch itself, where onnx is present);
#   7. training speed of release/s1 and release/s4 with the real loader (split held on the device, augmented
#      there), 300 steps each at the release batch: samples/s of the last logged steps.
#
#   bash benchmarks/gpu_pipeline.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_pipeline}
DEV=${DEV:-cuda}  # DEV=cpu: a dry run of the script on a machine without a GPU
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
: > "$OUT/summary.txt"; : > "$OUT/log.txt"
export PYTHONPATH=src PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
HV="$PY -m handvae"
W=$(mktemp -d)
stage() { echo "== $1" | tee -a "$OUT/summary.txt"; }
check() { if "$@" >> "$OUT/log.txt" 2>&1; then echo "   ok" | tee -a "$OUT/summary.txt"; else
  echo "   FAILED (exit $?; see log.txt)" | tee -a "$OUT/summary.txt"; return 1; fi; }

stage "1. device and libraries"
$PY - <<'EOF' 2>&1 | tee -a "$OUT/summary.txt"
import importlib

import torch

print("   torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "")
for mod in ("numpy", "scipy", "PIL", "skimage", "isal", "yaml", "safetensors", "tqdm", "matplotlib", "onnx", "onnxruntime"):
    try:
        m = importlib.import_module(mod)
        print(f"   {mod} {getattr(m, '__version__', '')}")
    except ImportError as e:
        print(f"   {mod} MISSING ({e})")
EOF

stage "2. synth + prepare"
check $HV synth --out "$W/world" --train 64 --test 16 --seed 0 --workers 8 --size 320 --quiet &&
  check $HV prepare rhd "$W/world" --out "$W/cache" --split train --size 128 --points 1024 --workers 8 --seed 0 --no-progress &&
  check $HV prepare rhd "$W/world" --out "$W/cache" --split test --size 128 --points 1024 --workers 8 --seed 0 --no-progress

stage "3. train release/s4 and release/s1 on CUDA, 20 steps, then resumed to 40"
for s in s4 s1; do
  common=(--no-progress release/$s data.cache="$W/cache" out_dir="$W/runs/$s" trainer.device=$DEV
          trainer.val_every=10 data.val_holdout=16 trainer.max_minutes=5 seed=0)
  check $HV train "${common[@]}" trainer.max_steps=20 && check $HV train --resume "${common[@]}" trainer.max_steps=40 &&
    $PY -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print('   last step', max(x['step'] for x in r))" \
      "$W/runs/$s/log.jsonl" | tee -a "$OUT/summary.txt"
  cp "$W/runs/$s/log.jsonl" "$OUT/log_$s.jsonl" 2>/dev/null
done

stage "4. evaluate on CUDA and on the CPU (same checkpoints)"
for dev in $DEV cpu; do
  check $HV evaluate "$W/runs/s4" "$W/runs/s1" --data "$W/cache" --out "$W/eval_$dev" --device $dev --no-baseline &&
    cp "$W/eval_$dev/metrics.json" "$OUT/metrics_$dev.json"
done
$PY - "$OUT" "$DEV" <<'EOF' 2>&1 | tee -a "$OUT/summary.txt"
import json, sys
out = sys.argv[1]
a, b = (json.load(open(f"{out}/metrics_{d}.json")) for d in (sys.argv[2], "cpu"))
for run in a:
    ea, eb = a[run]["mean_epe_mm"], b[run]["mean_epe_mm"]
    print(f"   {run}: EPE cuda {ea:.3f} cpu {eb:.3f} mm -> {'same' if abs(ea - eb) < 0.05 else 'DIFFERENT'}")
EOF

stage "5. predict with the released s4 on CUDA and on the CPU"
img=$(ls "$W"/world/evaluation/color/*.png | head -1)
for dev in $DEV cpu; do
  check $HV predict "$img" --out "$W/pred_$dev" --device $dev --no-progress &&
    cp "$W/pred_$dev/$(basename "$img" .png).json" "$OUT/pred_$dev.json"
done
$PY - "$OUT" "$DEV" <<'EOF' 2>&1 | tee -a "$OUT/summary.txt"
import json, sys

import numpy as np
out = sys.argv[1]
a, b = (np.array(json.load(open(f"{out}/pred_{d}.json"))["joints_rel_mm"]) for d in (sys.argv[2], "cpu"))
d = float(np.abs(a - b).max())
print(f"   largest joint difference cuda vs cpu: {d:.3f} mm -> {'same' if d < 0.5 else 'DIFFERENT'}")
EOF

stage "6. export-onnx of the s4 run"
check $HV export-onnx "$W/runs/s4" "$OUT/s4.onnx" && rm -f "$OUT/s4.onnx"

stage "7. release/s1 and release/s4 training speed on $DEV (300 steps, real loader)"
for s in s1 s4; do
  check $HV train --no-progress release/$s data.cache="$W/cache" out_dir="$W/speed/$s" trainer.device=$DEV \
      trainer.val_every=100000 data.val_holdout=16 trainer.max_steps=300 trainer.max_minutes=5 seed=0 &&
    $PY -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; t=[x['samples_per_s'] for x in r if x.get('kind')=='train'][-3:]; print('   $s samples/s', [round(v) for v in t])" \
      "$W/speed/$s/log.jsonl" | tee -a "$OUT/summary.txt"
done
rm -rf "$W"
