#!/usr/bin/env bash
# research/shapes_video/run.sh SEED temporal|none [key=value ...]: train the order-task recipe
# (video/shapes-order, with or without temporal embeddings, plus any overrides), then score its validation split
# (400 questions, for choosing between variants) and its test split (1,000). Runs land in $OUT (default
# runs/shapes-order)/$TAG-KIND-seedSEED; wall times in RESULTS.md are with OMP_NUM_THREADS=1, two runs side by side.
set -euo pipefail
seed=$1 kind=$2; shift 2
G=${GITLLM:-gitllm}
embed=$([ "$kind" = temporal ] && echo 4 || echo null)
out=${OUT:-runs/shapes-order}/${TAG:-order}-$kind-seed$seed
start=$(date +%s)
$G train video/shapes-order seed=$seed model.num_image_with_embedding=$embed output_dir=$out "$@" "name=order ($kind)"
trained=$(date +%s)
for split in val test; do
  $G eval --model $out --data shapesvideo:$split --limit 1000 --batch-size 64 --max-new-tokens 4 \
    --autocast bfloat16 --feature-cache --out-dir $out/eval-$split
done
echo "seed $seed $kind: train $((trained - start)) s, eval $(( $(date +%s) - trained )) s"
