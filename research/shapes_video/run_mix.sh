#!/usr/bin/env bash
# research/shapes_video/run_mix.sh SEED temporal|none EXTRA...: the order-task recipe (video + single-frame
# questions), then its validation split (400 questions, for choosing variants) and test split (1,000).
# Run each through /work/bin/heavy (one thread). TAG names the output folder under /tmp/order.
set -euo pipefail
seed=$1 kind=$2; shift 2
G=${GITLLM:-/work/main/.venv/bin/gitllm}
embed=$([ "$kind" = temporal ] && echo 4 || echo null)
out=/tmp/order/${TAG:-mix}-$kind-seed$seed
start=$(date +%s)
$G train video/shapes-order seed=$seed model.num_image_with_embedding=$embed output_dir=$out "$@" "name=order ($kind)"
trained=$(date +%s)
for split in val test; do
  $G eval --model $out --data shapesvideo:$split --limit 1000 --batch-size 64 --max-new-tokens 4 \
    --autocast bfloat16 --feature-cache --out-dir $out/eval-$split
done
echo "seed $seed $kind: train $((trained - start)) s, eval $(( $(date +%s) - trained )) s"
