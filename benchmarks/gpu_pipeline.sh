#!/usr/bin/env bash
# The whole command-line pipeline on a GPU, small: what a user with a GPU runs for the release recipe
# (configs/release/*.yaml say a GPU runs the same config). Nothing is installed: the machine's own PyTorch
# and libraries. Each stage's output goes to $OUT (default ./gpu_pipeline), its verdict to
# $OUT/summary.txt; a failed stage is reported and the later stages that do not need it still run; the
# exit status is 1 when any stage failed or disagreed.
#   1. the libraries the synthetic world needs;
#   2. handvae synth (64 + 16 scenes, 8 workers) and prepare (128 px crops, left hands mirrored);
#   3. handvae train release/s4 and release/s1 on the GPU to step 20, then --resume to step 40: the
#      validation steps logged must be 10, 20, 30, 40 (a resume that restarted would log 10, 20 twice);
#   4. handvae evaluate of each run on the GPU and on the CPU: the same checkpoint must give the same EPE;
#   5. handvae predict with the released s4 on the GPU and on the CPU, test-time rolls on (the default):
#      the same joints within 0.5 mm;
#   6. handvae export-onnx of the s4 run (checks ONNX Runtime against PyTorch itself, where onnx is present);
#   7. training speed of release/s1 and release/s4 with the real loader (split held on the device, augmented
#      there), 300 steps each at the release batch on 48 training samples: samples/s of the last logged
#      steps (a tiny set, so compare devices with the same script, not with longer runs).
#
#   bash benchmarks/gpu_pipeline.sh            # DEV=cpu: a dry run without a GPU (compares the CPU with itself)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_pipeline}
DEV=${DEV:-cuda}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/metrics_*.json "$OUT"/pred_*.json "$OUT"/log_*.jsonl
: > "$OUT/summary.txt"; : > "$OUT/log.txt"
export PYTHONPATH=src PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
FAIL=0
hv() { "$PY" -m handvae "$@"; }
say() { echo "$1" | tee -a "$OUT/summary.txt"; }
stage() { say "== $1"; }
check() {
  if "$@" >> "$OUT/log.txt" 2>&1; then say "   ok"; else say "   FAILED (exit $?; see log.txt)"; FAIL=1; return 1; fi
}
verdict() { "$PY" - "$@" 2>&1 | tee -a "$OUT/summary.txt" || FAIL=1; }  # a Python check read from stdin

stage "1. device and libraries"
verdict <<'EOF'
import importlib

import torch

gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else ""
print("   torch", torch.__version__, "cuda", torch.cuda.is_available(), gpu)
for mod in ("numpy", "scipy", "PIL", "skimage", "isal", "yaml", "safetensors", "tqdm", "matplotlib", "onnx",
            "onnxruntime"):
    try:
        print(f"   {mod} {getattr(importlib.import_module(mod), '__version__', '')}")
    except ImportError as e:
        print(f"   {mod} MISSING ({e})")
EOF

stage "2. synth + prepare"
prep=(--size 128 --points 1024 --workers 8 --seed 0 --no-progress)
check hv synth --out "$W/world" --train 64 --test 16 --seed 0 --workers 8 --size 320 --quiet &&
  check hv prepare rhd "$W/world" --out "$W/cache" --split train "${prep[@]}" &&
  check hv prepare rhd "$W/world" --out "$W/cache" --split test "${prep[@]}"

stage "3. train release/s4 and release/s1 on $DEV to step 20, then --resume to step 40"
for s in s4 s1; do
  common=(--no-progress "release/$s" data.cache="$W/cache" out_dir="$W/runs/$s" trainer.device="$DEV"
          trainer.val_every=10 data.val_holdout=16 trainer.max_minutes=5 seed=0)
  check hv train "${common[@]}" trainer.max_steps=20 &&
    check hv train --resume "${common[@]}" trainer.max_steps=40 &&
    verdict "$W/runs/$s/log.jsonl" "$s" <<'EOF'
import json, sys
steps = [r["step"] for r in map(json.loads, open(sys.argv[1])) if r.get("kind") == "val"]
ok = steps == [10, 20, 30, 40]
print(f"   {sys.argv[2]}: validation at steps {steps} -> {'resumed' if ok else 'NOT RESUMED AS EXPECTED'}")
sys.exit(0 if ok else 1)
EOF
  cp "$W/runs/$s/log.jsonl" "$OUT/log_$s.jsonl" 2>/dev/null
done

stage "4. evaluate on $DEV and on the CPU (same checkpoints)"
for dev in "$DEV" cpu; do
  check hv evaluate "$W/runs/s4" "$W/runs/s1" --data "$W/cache" --out "$W/eval_$dev" --device "$dev" --no-baseline &&
    cp "$W/eval_$dev/metrics.json" "$OUT/metrics_$dev.json"
done
verdict "$OUT" "$DEV" <<'EOF'
import json, sys
out, dev = sys.argv[1:]
a, b = (json.load(open(f"{out}/metrics_{d}.json")) for d in (dev, "cpu"))
same = True
for run in a:
    ea, eb = a[run]["mean_epe_mm"], b[run]["mean_epe_mm"]
    same &= abs(ea - eb) < 0.05
    print(f"   {run}: EPE {dev} {ea:.3f} cpu {eb:.3f} mm -> {'same' if abs(ea - eb) < 0.05 else 'DIFFERENT'}")
sys.exit(0 if same else 1)
EOF

stage "5. predict with the released s4 on $DEV and on the CPU"
img=$(ls "$W"/world/evaluation/color/*.png | head -1)
for dev in "$DEV" cpu; do
  check hv predict "$img" --out "$W/pred_$dev" --device "$dev" --no-progress &&
    cp "$W/pred_$dev/$(basename "$img" .png).json" "$OUT/pred_$dev.json"
done
verdict "$OUT" "$DEV" <<'EOF'
import json, sys

import numpy as np

out, dev = sys.argv[1:]
a, b = (np.array(json.load(open(f"{out}/pred_{d}.json"))["joints_rel_mm"]) for d in (dev, "cpu"))
d = float(np.abs(a - b).max())
print(f"   largest joint difference {dev} vs cpu: {d:.3f} mm -> {'same' if d < 0.5 else 'DIFFERENT'}")
sys.exit(0 if d < 0.5 else 1)
EOF

stage "6. export-onnx of the s4 run"
check hv export-onnx "$W/runs/s4" "$W/s4.onnx"

stage "7. release/s1 and release/s4 training speed on $DEV (300 steps, real loader, 48 samples)"
for s in s1 s4; do
  check hv train --no-progress "release/$s" data.cache="$W/cache" out_dir="$W/speed/$s" trainer.device="$DEV" \
      trainer.val_every=100000 data.val_holdout=16 trainer.max_steps=300 trainer.max_minutes=5 seed=0 &&
    verdict "$W/speed/$s/log.jsonl" "$s" <<'EOF'
import json, sys
sps = [r["samples_per_s"] for r in map(json.loads, open(sys.argv[1])) if r.get("kind") == "train"][-3:]
print(f"   {sys.argv[2]} samples/s {[round(v) for v in sps] or 'NONE LOGGED'}")
sys.exit(0 if sps else 1)
EOF
done
say "== $([ $FAIL = 0 ] && echo 'all stages passed' || echo 'SOME STAGE FAILED')"
exit $FAIL
