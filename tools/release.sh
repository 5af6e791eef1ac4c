#!/usr/bin/env bash
# Build the released models from scratch: render the release world, prepare it, train S4 and S1 with
# configs/release/*.yaml, score them, export the RGB -> pose weights into src/handvae/released/ and fit
# their hand probes (src/handvae/released/hand/).
#
#   bash tools/release.sh [s4] [s1]        (default: s4 s1; `make release` runs this)
#
# Every step is skipped when its output exists and training resumes from its last checkpoint, so the
# script can be interrupted and re-run at any time (for hours, in the background:
#   nohup bash tools/release.sh > release.log 2>&1 &).
# Work folder: $HANDVAE_RELEASE_ROOT (default ~/.cache/handvae/release). The real development set, when
# $HANDVAE_REALDEV points at it (default ../shared/realdev), is only scored, never trained on.
#
# WORLD (default "thumb_holds=false"): handvae synth --world options of the release world. The shipped s4
# and s1 were trained on the world before the thumb holds (docs/SIM2REAL.md), which this gives; WORLD=""
# renders today's default world instead (the same recipe, a different model). A world already rendered
# under $HANDVAE_RELEASE_ROOT is reused as it is: remove world/, world_select/ and the caches after changing WORLD.
# STEPS=shipped: train each model to the step of its shipped checkpoint, with no time limit, instead of
# for two hours of training time. How many steps two hours give depends on the CPU (on a 2-core Intel
# Xeon about half as many as on the EPYC where the shipped models were trained: docs/LEARNING.md
# section 7); the plateau schedule depends only on the steps, so this is the shipped run's schedule on
# any machine.
set -euo pipefail
cd "$(dirname "$0")/.."
HV=${HANDVAE:-.venv/bin/handvae}
PY=${PYTHON:-.venv/bin/python}
ROOT=${HANDVAE_RELEASE_ROOT:-$HOME/.cache/handvae/release}
REALDEV=${HANDVAE_REALDEV:-../shared/realdev}
SEED=${SEED:-0}
WORLD_ARGS=(); for kv in ${WORLD-thumb_holds=false}; do WORLD_ARGS+=(--world "$kv"); done
MODELS=("$@")
[ ${#MODELS[@]} -eq 0 ] && MODELS=(s4 s1)
mkdir -p "$ROOT"

# 1. the release world: the mesh world (with WORLD's options), 30,000 training + 500 test samples at 320 px
[ -f "$ROOT/world/synth_config.yaml" ] || \
  $HV synth --format rhd --out "$ROOT/world" --train 30000 --test 500 --seed "$SEED" --workers 2 --size 320 --quiet --overwrite \
    "${WORLD_ARGS[@]}"
# 2. prepared 128 px crops (left hands mirrored), and the real photos for scoring when present
for split in train test; do
  [ -f "$ROOT/cache128/$split/manifest.json" ] || \
    $HV prepare rhd "$ROOT/world" --out "$ROOT/cache128" --split $split --size 128 --workers 2 --seed "$SEED" \
      --skip-bad  # a scene may hide its hand entirely (an occluder in front): skipped, and counted in the manifest
done
if [ -d "$REALDEV" ] && [ ! -f "$ROOT/realdev128/test/manifest.json" ]; then
  $HV prepare realdev "$REALDEV" --out "$ROOT/realdev128" --split test --size 128
fi
# 3. train (resumable), score once, export
for m in "${MODELS[@]}"; do
  RUN="$ROOT/runs/$m"
  RESUME=""; [ -f "$RUN/checkpoints/last.safetensors" ] && RESUME="--resume"
  PIN=()
  if [ "${STEPS:-}" = shipped ]; then
    N=$($PY -c "from handvae.models.released import read_release as r, released_path as p; print(r(p('$m'))[1]['source']['step'])")
    PIN=("trainer.max_steps=$N" "trainer.max_minutes=0")
  fi
  [ -f "$RUN/done" ] || { $HV train "configs/release/$m.yaml" "data.cache=$ROOT/cache128" "out_dir=$RUN" \
      "seed=$SEED" "${PIN[@]}" $RESUME && touch "$RUN/done"; }
  [ -f "$RUN/eval_synthetic/metrics.json" ] || $HV evaluate "$RUN" --data "$ROOT/cache128" --out "$RUN/eval_synthetic"
  if [ -f "$ROOT/realdev128/test/manifest.json" ] && [ ! -f "$RUN/eval_realdev/metrics.json" ]; then
    $HV evaluate "$RUN" --data "$ROOT/realdev128" --out "$RUN/eval_realdev"
  fi
  $HV release-export "$RUN" --name "$m" --out "src/handvae/released/$m.safetensors" --fp16
done

# 4. inference settings are chosen on synthetic data, never on the real photos: a selection split of 500
#    fresh scenes of the release world (seed SEED+1), prepared with left hands mirrored and as rendered;
#    --hand auto's score (benchmarks/handedness.py) and the test-time rolls (benchmarks/tta.py) of each
#    model are measured on it (docs/MODELS.md)
[ -f "$ROOT/world_select/synth_config.yaml" ] || \
  $HV synth --format rhd --out "$ROOT/world_select" --train 0 --test 500 --seed $((SEED + 1)) --workers 2 --size 320 \
    --quiet --overwrite "${WORLD_ARGS[@]}"
for mirror in left none; do
  SEL="$ROOT/cache128_select_$mirror"
  [ -f "$SEL/test/manifest.json" ] || $HV prepare rhd "$ROOT/world_select" --out "$SEL" --split test --size 128 \
    --workers 2 --seed $((SEED + 1)) --mirror $mirror --skip-bad
done
for m in "${MODELS[@]}"; do
  RUN="$ROOT/runs/$m"
  [ -f "$RUN/selection_handedness.txt" ] || \
    { $PY benchmarks/handedness.py --run "$RUN" --data "$ROOT/cache128_select_none" > "$RUN/selection_handedness.tmp" \
      && mv "$RUN/selection_handedness.tmp" "$RUN/selection_handedness.txt"; }
  [ -f "$RUN/selection_tta.txt" ] || { $PY benchmarks/tta.py --run "$RUN" --data "$ROOT/cache128_select_left" \
    > "$RUN/selection_tta.tmp" && mv "$RUN/selection_tta.tmp" "$RUN/selection_tta.txt"; }
done

# 5. each model's hand probe for --hand auto (docs/MODELS.md): fitted on the release world's training crops
#    (the last 500 held out from the fit and scored), scored once on realdev when it is there
for m in "${MODELS[@]}"; do
  RUN="$ROOT/runs/$m"
  RD=(); [ -f "$ROOT/realdev128/test/manifest.json" ] && RD=(--realdev "$ROOT/realdev128")
  [ -f "src/handvae/released/hand/$m.safetensors" ] && [ -f "$RUN/hand_probe.txt" ] || \
    { $PY tools/fit_hand_probe.py --model "$m" --data "$ROOT/cache128" "${RD[@]}" --seed "$SEED" \
        --out "src/handvae/released/hand/$m.safetensors" > "$RUN/hand_probe.tmp" \
      && mv "$RUN/hand_probe.tmp" "$RUN/hand_probe.txt"; }
done
