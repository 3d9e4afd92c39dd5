#!/usr/bin/env bash
# /tmp/order/run.sh SEED temporal|none EXTRA...: the order task with the visual-word objective, then its test split.
set -euo pipefail
seed=$1 kind=$2; shift 2
G=/work/main/.venv/bin/gitllm
embed=$([ "$kind" = temporal ] && echo 4 || echo null)
out=/tmp/order/${TAG:-vw}-$kind-seed$seed
start=$(date +%s)
$G train video/shapes-order seed=$seed model.num_image_with_embedding=$embed output_dir=$out \
  visual_words.weight=1.0 'visual_words.skip_answers=["yes","no","left","right"]' "$@" "name=order vw ($kind)"
trained=$(date +%s)
$G eval --model $out --data shapesvideo:test --limit 1000 --batch-size 64 --max-new-tokens 4 \
  --autocast bfloat16 --feature-cache --out-dir $out/eval-test
echo "seed $seed $kind: train $((trained - start)) s, eval $(( $(date +%s) - trained )) s"
