#!/usr/bin/env bash
# Image-reliance diagnostics on the demo recipe (issue 12): val accuracy and image-blind accuracy logged every
# 40 steps on 300 held-out training questions, then the full easy-VQA test set with and without the blind score
# (its cost). Run through /work/bin/heavy (one thread). Usage: eval_diag.sh OUT_DIR [SEED]
set -euo pipefail
OUT=${1:?out dir}; SEED=${2:-0}
G=${GITLLM:-gitllm}
cd "$(dirname "$0")/../.."
mkdir -p "$OUT"
start=$(date +%s)
$G train demo/easyvqa seed=$SEED eval_steps=40 eval_accuracy=300 data.val_size=300 \
  output_dir="$OUT/run" "report_to=[]" > "$OUT/train.log" 2>&1
echo "train: $(( $(date +%s) - start )) s" | tee -a "$OUT/times.txt"
$G plot "$OUT/run" --out "$OUT/curves.png" --smooth 5
for blind in "" "--no-blind"; do
  start=$(date +%s)
  $G eval --model "$OUT/run" --data easyvqa:test --feature-cache --autocast bfloat16 --batch-size 64 \
    --max-new-tokens 8 $blind --out-dir "$OUT/eval${blind:+-noblind}" > "$OUT/eval${blind:+-noblind}.log" 2>&1
  echo "eval ${blind:-(blind on)}: $(( $(date +%s) - start )) s" | tee -a "$OUT/times.txt"
done
uptime | tee -a "$OUT/times.txt"
