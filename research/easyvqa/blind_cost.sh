#!/usr/bin/env bash
# What the image-blind score costs in `gitllm eval`: the same evaluation with and without it (wall seconds),
# on MODEL (default: the untrained zoo halves, whose answers all run to --max-new-tokens, so every pass does
# the same work). Run through /work/bin/heavy. Usage: blind_cost.sh OUT_DIR [MODEL] [LIMIT]
set -euo pipefail
OUT=${1:?out dir}; MODEL=${2:-dinov2-small+smollm2-135m-instruct}; LIMIT=${3:-320}
G=${GITLLM:-gitllm}
mkdir -p "$OUT"
uptime | tee "$OUT/times.txt"
# Warm-up: fills the feature cache, so that no timed run pays for encoding the images into it.
$G eval --model "$MODEL" --data easyvqa:test --limit "$LIMIT" --feature-cache --no-blind --max-new-tokens 1 \
  --batch-size 64 --out-dir "$OUT/warmup" > "$OUT/warmup.log" 2>&1
for blind in "--no-blind" ""; do
  for cache in "--feature-cache" ""; do
    start=$(date +%s.%N)
    $G eval --model "$MODEL" --data easyvqa:test --limit "$LIMIT" $cache --autocast bfloat16 --batch-size 64 \
      --max-new-tokens 4 $blind --out-dir "$OUT/eval${blind}${cache}" > "$OUT/eval${blind}${cache}.log" 2>&1
    echo "blind ${blind:-on} ${cache:-(pixels)}: $(echo "$(date +%s.%N) - $start" | bc) s" | tee -a "$OUT/times.txt"
  done
done
uptime | tee -a "$OUT/times.txt"
