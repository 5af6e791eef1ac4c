#!/usr/bin/env bash
# Train one config on a lent GPU within a fixed wall-clock budget, on a world rendered on that machine, and
# bring the run back (config, log, best checkpoint) for scoring here. Made for leases of a few minutes:
#   1. handvae synth of the Table 1 world (seed 0: 10,000 train + 500 test, so the test split is Table 1's)
#      and of EXTRA more training scenes (seed 1), the two at once; prepare both (128 px crops, left hands
#      mirrored); join the training splits (handvae prepare cache);
#   2. handvae train CONFIG (the GPU preset: batch 512, lr 0.002) with a cosine decay to 0 whose last step
#      is set from the time left (RATE samples/s: on an H200 the trainer logged 19,000-22,700 at batch 512,
#      benchmarks/gpu_batch_scaling.sh, and the recorded run 26,000; 18,000 errs on the short side; S4 runs
#      at about 3,500: CONFIG=configs/gpu/s4.yaml RATE=3000) so that
#      the decay ends by END_S seconds after the start; trainer.max_minutes is the safety net. RATE=auto
#      measures it first: 80 steps of the same config on the same cache (about 20 s), the last logged rate;
#   3. copies config.yaml, log.jsonl, env.json and the training split's manifest (train_manifest.json) to
#      $OUT/run, and checkpoints/best.safetensors without its optimiser state (a third of the size; it
#      evaluates and exports, it does not resume), in 15 MiB parts when larger (a lease returns at most 8
#      files of at most 16 MiB each; a width-32 model's weights are 11.6 MB): join them with cat.
# Across leases (a run longer than one lease): KEEP_LAST=1 also brings back the last checkpoint with its
# optimiser state (run/checkpoints/last.part*, 35 MB at width 32), and then packs the run's small files into
# run_files.tar to stay within 8 files. Here, unpack them into a folder the next lease carries (git ignores
# gpu_work/; the device tool's carry takes up to 64 MiB: 47 MB at width 32):
#   mkdir -p gpu_work/from/run/checkpoints && tar -xf OUT/run_files.tar -C gpu_work/from &&
#   cat OUT/run/checkpoints/last.part* > gpu_work/from/run/checkpoints/last.safetensors &&
#   cat OUT/run/checkpoints/best.part* > gpu_work/from/run/checkpoints/best.safetensors
# and start the next lease with FROM=gpu_work/from (carry gpu_work/from) and the same CONFIG and SET: it
# renders the same world (same seeds; refused when the prepared training split's checksum differs from
# the one the run trained on, for example after a change to the world's code), and resumes the run
# exactly on the cosine planned in the first lease (TRAIN_S there: the training seconds over all leases).
# A WORK folder that already holds a run (an earlier call of this lease) resumes that one; FROM is then unused.
# STEPS=N plans the cosine over N steps instead of from the time left (a rebuild of a recorded run); each
# call still stops by END_S (set it large where no lease limits the time), and a later call resumes.
# Exits 1 when too little time is left to train (rendering took it) or the training fails.
#
# Across calls of one lease: with WORK=gpu_work (a folder of the repo that git ignores, which a lent machine
# keeps between calls while it stays warm) the prepared cache and the run stay there; a later call with the
# same WORK, CONFIG and SET skips the rendering and resumes the run exactly, on the cosine that the first
# call planned over TRAIN_S seconds of training (default: the time the first call leaves), for the time
# this call leaves (END_S). For example, a 15-minute lease: the first call END_S=560 TRAIN_S=560 (about
# 320 s of training after 200 s of rendering), the next one at once END_S=240 (about 200 s more).
#
#   OUT=... bash tools/gpu_train.sh                      # defaults below: configs/gpu/s1.yaml, 540 s
#   DEV=cpu EXTRA=32 N0=600 TEST=16 BATCH=8 SET=trainer.lr=0.001 RATE=300 END_S=150 WORKERS=2 HOLDOUT=100 bash tools/gpu_train.sh   # a dry run here
#   RATE=auto SET=model.rgb_width=32 OUT=... bash tools/gpu_train.sh   # another model: measure its rate first
#   WORLD="p_random_texture=0.3 skin_maps=true" OUT=... bash tools/gpu_train.sh   # a variant of the world (both
#     renders; handvae synth --world), to compare with a run on the default world (docs/SIM2REAL.md)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_train}
DEV=${DEV:-cuda}
CONFIG=${CONFIG:-configs/gpu/s1.yaml}
BATCH=${BATCH:-512}  # the GPU preset's; another batch needs its own lr (an override in SET)
SET=${SET:-}         # more config overrides, space-separated
RATE=${RATE:-18000}
END_S=${END_S:-540}
N0=${N0:-10000}
TEST=${TEST:-500}
EXTRA=${EXTRA:-10000}
WORKERS=${WORKERS:-16}
HOLDOUT=${HOLDOUT:-500}  # the last training samples (seed 0's), held out for choosing the checkpoint
PY=${PYTHON:-python3}
export PYTHONPATH=src PYTHONUNBUFFERED=1
STEPS=${STEPS:-}      # the cosine's number of steps, instead of one planned from the time left
FROM=${FROM:-}        # a run brought back from an earlier lease (KEEP_LAST=1), to resume
KEEP_LAST=${KEEP_LAST:-}  # 1: also bring back the last checkpoint, with its optimiser state
TRAIN_S=${TRAIN_S:-}  # training seconds the cosine is planned for, over all calls (default: what this call leaves)
WORK=${WORK:-}        # a folder kept between calls (a lease keeps ignored folders of the repo while warm)
WORLD=${WORLD:-}      # world options for both renders, space-separated KEY=VALUE (handvae synth --world)
world=()
for kv in $WORLD; do world+=(--world "$kv"); done
mkdir -p "$OUT/run"
if [ -n "$WORK" ]; then
  W=$WORK
  mkdir -p "$W"
else
  W=$(mktemp -d)
  trap 'rm -rf "$W"' EXIT
fi
t0=$(date +%s)
say() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a "$OUT/steps.txt"; }
hv() { "$PY" -m handvae "$@"; }

render_and_prepare() {
  say "render: seed 0 ($N0 + $TEST) and seed 1 ($EXTRA), $WORKERS workers${WORLD:+, world $WORLD}"
  if (( EXTRA > 0 )); then
    # the workers split in proportion to the scenes, so that the two end together
    local k0=$(( WORKERS * (N0 + TEST) / (N0 + TEST + EXTRA) ))
    (( k0 >= 1 )) || k0=1
    local k1=$(( WORKERS - k0 >= 1 ? WORKERS - k0 : 1 ))
    hv synth --format rhd --out "$W/w0" --train "$N0" --test "$TEST" --seed 0 --workers "$k0" --size 320 --quiet "${world[@]}" &
    local p0=$!
    hv synth --format rhd --out "$W/w1" --train "$EXTRA" --test 0 --seed 1 --workers "$k1" --size 320 --quiet "${world[@]}"
    wait $p0
  else
    hv synth --format rhd --out "$W/w0" --train "$N0" --test "$TEST" --seed 0 --workers "$WORKERS" --size 320 --quiet "${world[@]}"
  fi
  say "prepare"
  local prep=(--size 128 --points 1024 --workers "$WORKERS" --no-progress) extra=()
  hv prepare rhd "$W/w0" --out "$W/c0" --split train --seed 0 "${prep[@]}" > /dev/null
  hv prepare rhd "$W/w0" --out "$W/c0" --split test --seed 0 "${prep[@]}" > /dev/null
  # a scene may hide its hand entirely (an occluder in front): skipped in the extra scenes, which hold no holdout
  if (( EXTRA > 0 )); then
    hv prepare rhd "$W/w1" --out "$W/c1" --split train --seed 1 --skip-bad "${prep[@]}" > /dev/null
    extra=("$W/c1/train")
  fi
  hv prepare cache "${extra[@]}" "$W/c0/train" --out "$W/cache" --split train > /dev/null
  hv prepare cache "$W/c0/test" --out "$W/cache" --split test > /dev/null
  rm -rf "$W/w0" "$W/w1" "$W/c0" "$W/c1"
  touch "$W/cache.done"
}

measure_rate() {
  # shellcheck disable=SC2086
  hv train "$CONFIG" data.cache="$W/cache" out_dir="$W/probe" trainer.device="$DEV" trainer.batch_size="$BATCH" \
    trainer.max_steps=80 trainer.val_every=100000 trainer.log_every=20 data.val_holdout="$HOLDOUT" seed=0 $SET \
    --no-progress > "$OUT/train.log" 2>&1 || { say "rate probe FAILED (train.log)"; exit 1; }
  RATE=$("$PY" -c 'import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if "samples_per_s" in line]
print(int(rows[-1]["samples_per_s"]))' "$W/probe/log.jsonl")
  rm -rf "$W/probe"
  say "rate probe: $RATE samples/s at batch $BATCH"
}

if [ -f "$W/cache.done" ]; then
  say "world and cache kept from an earlier call ($W)"
else
  render_and_prepare
fi
checksum() { "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["checksum"])' "$1"; }
adopt_run() {
  # an earlier lease's run (FROM): only onto the world it trained on
  local want have
  want=$(checksum "$FROM/run/train_manifest.json")
  have=$(checksum "$W/cache/train/manifest.json")
  [ "$want" = "$have" ] || { say "FROM=$FROM trained on training split $want, rendered here $have: not resumed"; exit 1; }
  mkdir -p "$W/run/checkpoints"
  cp "$FROM/run/config.yaml" "$FROM/run/log.jsonl" "$W/run/"
  cp "$FROM/run/checkpoints/last.safetensors" "$W/run/checkpoints/"
  # the best so far, so that a lease whose validations do not beat it still brings one back
  [ ! -f "$FROM/run/checkpoints/best.safetensors" ] || cp "$FROM/run/checkpoints/best.safetensors" "$W/run/checkpoints/"
  cp "$FROM/run/plan.txt" "$W/plan.txt"
  say "adopted the run of $FROM (training split $have)"
}
if [ -n "$FROM" ]; then
  if [ -f "$W/run/checkpoints/last.safetensors" ]; then
    say "FROM=$FROM unused: $W holds a run already (an earlier call of this lease), resumed instead"
  else
    adopt_run
  fi
fi
left=$(( END_S - ($(date +%s) - t0) - 45 ))  # 45 s: start-up, validations, the final save and the copy
resume=()
if [ -f "$W/run/checkpoints/last.safetensors" ]; then
  # an earlier call's run: the same cosine (plan.txt), and this call's time on top of the training time it saved
  steps=$(cat "$W/plan.txt")
  done_s=$("$PY" -c 'import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if "train_seconds" in line]
print(int(rows[-1]["train_seconds"]) if rows else 0)' "$W/run/log.jsonl")
  (( left >= 30 )) || { say "only $left s left: not resumed"; exit 1; }
  budget=$(( done_s + left ))
  resume=(--resume)
  say "resume $CONFIG at $done_s s of training: $left s more, cosine over $steps steps of $BATCH"
elif [ -n "$STEPS" ]; then
  steps=$STEPS
  (( left >= 30 )) || { say "only $left s left to train: not started"; exit 1; }
  echo "$steps" > "$W/plan.txt"
  budget=$left
  say "train $CONFIG: $left s left in this call, cosine over $steps steps of $BATCH (STEPS)"
else
  [ "$RATE" = auto ] && measure_rate
  left=$(( END_S - ($(date +%s) - t0) - 45 ))
  steps=$(( ${TRAIN_S:-$left} * RATE / BATCH ))
  (( left >= 30 && steps >= 100 )) || { say "only $left s left to train ($steps steps): not started"; exit 1; }
  echo "$steps" > "$W/plan.txt"
  budget=$left
  say "train $CONFIG: $left s left in this call, cosine over $steps steps of $BATCH (${TRAIN_S:-$left} s planned)"
fi
rc=0
# shellcheck disable=SC2086
hv train "$CONFIG" data.cache="$W/cache" out_dir="$W/run" trainer.device="$DEV" trainer.batch_size="$BATCH" \
  trainer.schedule=cosine trainer.max_steps="$steps" trainer.max_minutes="$(echo "$budget" | awk '{print $1 / 60}')" \
  trainer.val_every=$(( steps / 8 + 1 )) data.val_holdout="$HOLDOUT" trainer.log_every=100 seed=0 $SET \
  --no-progress "${resume[@]}" >> "$OUT/train.log" 2>&1 || { rc=$?; say "train FAILED (exit $rc)"; }
cp "$W/run/config.yaml" "$W/run/log.jsonl" "$W/run/env.json" "$OUT/run/" || true
cp "$W/cache/train/manifest.json" "$OUT/run/train_manifest.json" || true
# a lease brings back at most 8 files of at most 16 MiB: the best weights without the optimiser's moments, in
# 15 MiB parts when larger; here: cat run/checkpoints/best.part* > run/checkpoints/best.safetensors
best=$W/run/checkpoints/best.safetensors
if [ ! -f "$best" ] && [ -f "$W/run/checkpoints/last.safetensors" ]; then
  best=$W/run/checkpoints/last.safetensors
  say "no best checkpoint in the run: the last one comes back as best.part*"
fi
mkdir -p "$OUT/run/checkpoints" && rm -f "$OUT/run/checkpoints/"*.part*  # none left by an earlier call into OUT
"$PY" -c 'import sys; from handvae.checkpoint import strip_optimizer
strip_optimizer(sys.argv[1], sys.argv[2])' "$best" "$W/best_weights.safetensors" \
  && split -b 15M "$W/best_weights.safetensors" "$OUT/run/checkpoints/best.part" || true
if [ "$KEEP_LAST" = 1 ]; then
  cp "$W/plan.txt" "$OUT/run/"
  split -b 15M "$W/run/checkpoints/last.safetensors" "$OUT/run/checkpoints/last.part" || true
  (cd "$OUT" && tar -cf run_files.tar --remove-files run/config.yaml run/log.jsonl run/env.json \
    run/train_manifest.json run/plan.txt) || true
fi
say "done"
exit "$rc"
