"""Full easy-VQA test exact match of a run, one shard per process (the machine is shared: shards run side by
side). Usage: python eval_shard.py RUN_DIR K N OUT.json  -> {"count", "exact_match", "seconds", "cpu_seconds"}"""

from __future__ import annotations

import json
import sys
import time

from gitllm.eval import evaluate, load_samples
from gitllm.play import GenerationSettings, load_model
from gitllm.play.loader import prompt_defaults


def main(run_dir: str, k: int, n: int, out: str) -> None:
    wall, cpu = time.time(), time.process_time()
    samples, _ = load_samples("easyvqa:test", limit=None)
    model, processor = load_model(run_dir, "bfloat16")
    template, _ = prompt_defaults(run_dir)
    metrics = evaluate(model, processor, samples[k::n], template, GenerationSettings(max_new_tokens=8), 64,
                       progress=False, loss=False)
    result = {"count": metrics["vqa_count"], "exact_match": metrics["vqa_exact_match"],
              "seconds": round(time.time() - wall), "cpu_seconds": round(time.process_time() - cpu)}
    json.dump(result, open(out, "w"))
    print(result)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
