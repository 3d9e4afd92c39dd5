#!/usr/bin/env bash
# research/shapes_video/run.sh SEED temporal|none: train the order-task recipe, then score its test split.
# Run each through /work/bin/heavy (one thread); the feature cache is shared, so later runs skip encoding.
set -euo pipefail
seed=$1 kind=$2
GITLLM=${GITLLM:-gitllm}
embed=$([ "$kind" = temporal ] && echo 4 || echo null)
out=runs/shapes-order/$kind-seed$seed
start=$(date +%s)
"$GITLLM" train video/shapes-order seed=$seed model.num_image_with_embedding=$embed output_dir=$out \
  "name=shapes order ($kind)"
trained=$(date +%s)
"$GITLLM" eval --model $out --data shapesvideo:test --limit 1000 --batch-size 32 --max-new-tokens 4 \
  --autocast bfloat16 --feature-cache --out-dir $out/eval-test
echo "seed $seed $kind: train $((trained - start)) s, eval $(( $(date +%s) - trained )) s"
