"""Experiment 1 offline: train every configs/exp1-modules/offline recipe one after another, then score each on
a fixed slice of the easy-VQA test set with `gitllm.eval` (greedy generation, exact match) and write the table
and the plot here.

    .venv/bin/python docs/exp1/run_exp1.py [--recipes proj proj+lora ...] [--questions 200] [key=value ...]

Frozen-ViT recipes share one feature cache (train and validation images are encoded once for all of them).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from gitllm.data import read
from gitllm.eval import evaluate
from gitllm.play.generate import GenerationSettings
from gitllm.train import load_config, train
from gitllm.train.build import build_model
from gitllm.train.groups import apply_groups, unwrap
from gitllm.train.plot import plot_runs
from gitllm.train.state import load_trainable

HERE = Path(__file__).resolve().parent
RECIPES = HERE.parents[1] / "configs" / "exp1-modules" / "offline"
ORDER = ["proj", "proj+lora", "proj+llm", "proj+vit", "proj+head", "proj+lora+vit", "proj+lora+head"]


def test_slice(n: int) -> list:
    """n questions spread evenly over the easy-VQA test set (it lists questions grouped by image)."""
    samples = list(read("easyvqa:test"))
    return samples[:: len(samples) // n][:n]


def score(run_dir: Path, samples: list) -> dict:
    """`gitllm.eval.evaluate` (greedy answers, exact match after normalisation) on the trained run, LoRA merged
    in memory, bf16 autocast; answers and a gallery go to RUN_DIR/eval."""
    config = load_config(run_dir / "train_config.yaml")
    model, processor = build_model(config)
    model = apply_groups(model, config.groups, config.lora, config.vit_lora)
    load_trainable(model, run_dir / "final")
    model = (model.merge_and_unload() if model is not unwrap(model) else model).eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as trained
        return evaluate(model, processor, samples, config.data.template, GenerationSettings(max_new_tokens=6),
                        batch_size=25, out_dir=run_dir / "eval")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipes", nargs="*", default=ORDER)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--runs", default="runs/exp1-offline")
    parser.add_argument("--no-train", action="store_true", help="score and plot existing runs only")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(2)
    samples = test_slice(args.questions)
    results_file = HERE / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    for name in args.recipes:
        run_dir = Path(args.runs) / name
        if not args.no_train:
            started = time.perf_counter()
            result = train(load_config(RECIPES / f"{name}.yaml", [f"output_dir={run_dir}", *args.overrides]))
            results[name] = {"train_seconds": round(time.perf_counter() - started), "steps": result.steps,
                             "final_train_loss": result.train_loss, "final_val_loss": result.eval_loss,
                             "trainable": result.trainable}
        metrics = score(run_dir, samples)
        results.setdefault(name, {})["easyvqa_exact_match"] = metrics["vqa_exact_match"]
        results[name]["test_slice_loss"] = metrics["loss"]
        print(f"{name}: exact match {metrics['vqa_exact_match']:.1%} on {len(samples)} test questions", flush=True)
        results_file.write_text(json.dumps(results, indent=1))
    runs = [Path(args.runs) / n for n in ORDER if (Path(args.runs) / n / "metrics.jsonl").is_file()]
    plot_runs(runs, HERE / "loss_curves.png", "Experiment 1 offline: DINOv2-S + SmolLM2-135M on easy-VQA", smooth=3)
    always_yes = sum(s.outputs == "yes" for s in samples) / len(samples)
    lines = ["| trained groups | trainable params | steps | train time (s) | final val loss | easy-VQA exact match |",
             "|---|---:|---:|---:|---:|---:|"]
    for name in ORDER:
        if name in results and "final_val_loss" in results[name]:
            r = results[name]
            lines.append(f"| {name} | {sum(r['trainable'].values()):,} | {r['steps']} | {r['train_seconds']} | "
                         f"{r['final_val_loss']:.4f} | {r['easyvqa_exact_match']:.1%} |")
    lines.append(f"\nBaseline: always answering \"yes\" scores {always_yes:.1%} on the same {len(samples)} questions.")
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
