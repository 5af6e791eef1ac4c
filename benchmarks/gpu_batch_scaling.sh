#!/usr/bin/env bash
# What a GPU buys the release recipe at larger batches: S1 and S4 training samples/s against the batch size,
# in bfloat16, on a small world rendered on the machine itself.
#   1. handvae synth (1,024 + 16 scenes of the default mesh world) and prepare (128 px crops);
#   2. benchmarks/bench_train.py (full training steps with the batch assembled and augmented on the device,
#      S1 and S4 taking turns) at batches 32, 128 and 512;
#   3. handvae train release/s1 and release/s4 for 120 steps at batch 512 (the whole trainer: logging and
#      the non-finite guard included, validation never reached): samples/s of the last logged steps.
# The figures are for planning GPU training (docs/LEARNING.md section 3), not a test: nothing is asserted,
# but a stage that fails says FAILED (its whole output is kept in $OUT/log.txt) and the exit status is 1.
#   bash benchmarks/gpu_batch_scaling.sh                 # on a GPU; the figures in $OUT/figures.txt
#   DEV=cpu N=64 BATCHES=8 TRAIN_BATCH=8 WORKERS=2 bash benchmarks/gpu_batch_scaling.sh   # a dry run on the CPU
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_batch_scaling}
DEV=${DEV:-cuda}
BATCHES=${BATCHES:-32 128 512}
TRAIN_BATCH=${TRAIN_BATCH:-512}
N=${N:-1024}  # training scenes
WORKERS=${WORKERS:-16}
mkdir -p "$OUT"
export PYTHONPATH=src PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
t0=$(date +%s)
FAIL=0
: > "$OUT/log.txt"; : > "$OUT/figures.txt"
say() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a "$OUT/figures.txt"; }
failed() { say "   FAILED: $1 (see log.txt)"; FAIL=1; }

say "1. world: $("$PY" -c 'import torch; print(torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU")')"
"$PY" -m handvae synth --format rhd --out "$W/world" --train "$N" --test 16 --seed 0 --workers "$WORKERS" --size 320 \
  --quiet >> "$OUT/log.txt" 2>&1 || { failed synth; exit 1; }
for split in train test; do
  "$PY" -m handvae prepare rhd "$W/world" --out "$W/cache" --split $split --size 128 --points 1024 --workers "$WORKERS" \
    --seed 0 --no-progress --skip-bad >> "$OUT/log.txt" 2>&1 || { failed "prepare $split"; exit 1; }
done
say "   rendered and prepared"

for b in $BATCHES; do
  say "2. bench_train, batch $b"
  "$PY" benchmarks/bench_train.py --cache "$W/cache" --device "$DEV" --batch "$b" --steps 6 --rounds 3 \
    trainer.amp=bf16 > "$W/bench.txt" 2>&1 || failed "bench_train at batch $b"
  cat "$W/bench.txt" >> "$OUT/log.txt"
  grep -E "samples/s|throughput|preset" "$W/bench.txt" | tee -a "$OUT/figures.txt"
done

for s in s1 s4; do
  say "3. handvae train release/$s, batch $TRAIN_BATCH, 120 steps"
  "$PY" -m handvae train "configs/release/$s.yaml" data.cache="$W/cache" out_dir="$W/run_$s" trainer.device="$DEV" \
    trainer.batch_size="$TRAIN_BATCH" trainer.max_steps=120 trainer.val_every=100000 trainer.log_every=20 trainer.amp=bf16 \
    data.val_holdout=16 --no-progress >> "$OUT/log.txt" 2>&1 || { failed "train $s"; continue; }
  "$PY" - "$W/run_$s/log.jsonl" <<'EOF' 2>&1 | tee -a "$OUT/figures.txt"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if '"train"' in line]
print("   steps", [r["step"] for r in rows][-3:], "samples/s", [round(r["samples_per_s"]) for r in rows][-3:])
EOF
done
say "done"
exit "$FAIL"
