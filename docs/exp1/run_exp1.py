"""Experiment 1 offline: train every shipped exp1-modules/offline recipe one after another, then score each on a
fixed slice of the easy-VQA test set with `gitllm.eval` (greedy generation, exact match) and write the table and
the plot here.

    .venv/bin/python docs/exp1/run_exp1.py [--recipes proj proj+lora ...] [--questions 200] [--set key=value ...]

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
from gitllm.infer.generate import GenerationSettings
from gitllm.train import load_config, train
from gitllm.train.build import build_model
from gitllm.train.groups import apply_groups, unwrap
from gitllm.train.plot import plot_runs
from gitllm.train.state import load_trainable

HERE = Path(__file__).resolve().parent
RECIPES = "exp1-modules/offline"  # shipped recipes: gitllm recipes list
ORDER = ["proj", "proj+lora", "proj+llm", "proj+vit", "proj+head", "proj+lora+vit", "proj+lora+head"]


def test_slice(n: int) -> list:
    """n <= 200 questions spread evenly over the easy-VQA test set (it lists questions grouped by image); a
    smaller slice is a subset of the 200-question one (every 200/n-th of it)."""
    samples = list(read("easyvqa:test"))
    full = samples[:: len(samples) // 200][:200]
    return full[:: 200 // n][:n]


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
    parser.add_argument("--table-only", action="store_true", help="plot and tabulate scored runs only")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides for every recipe")
    args = parser.parse_args()
    torch.set_num_threads(2)
    samples = test_slice(args.questions)
    results_file = HERE / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    for name in [] if args.table_only else args.recipes:
        run_dir = Path(args.runs) / name
        if not args.no_train:
            started = time.perf_counter()
            result = train(load_config(f"{RECIPES}/{name}", [f"output_dir={run_dir}", *args.overrides]))
            results[name] = {"overrides": args.overrides,
                             "train_seconds": round(time.perf_counter() - started), "steps": result.steps,
                             "final_train_loss": result.train_loss, "final_val_loss": result.eval_loss,
                             "trainable": result.trainable}
        metrics = score(run_dir, samples)
        results.setdefault(name, {})["easyvqa_exact_match"] = metrics["vqa_exact_match"]
        results[name]["test_slice_loss"] = metrics["loss"]
        print(f"{name}: exact match {metrics['vqa_exact_match']:.1%} on {len(samples)} test questions", flush=True)
        results_file.write_text(json.dumps(results, indent=1))
    runs = [Path(args.runs) / n for n in ORDER if (Path(args.runs) / n / "metrics.jsonl").is_file()]
    plot_runs(runs, HERE / "loss_curves.png", "Experiment 1 offline: DINOv2-S + SmolLM2-135M on easy-VQA", smooth=3)
    write_table(results, Path(args.runs))


def accuracy_on(run_dir: Path, questions: list) -> float | None:
    """Exact match of a scored run on `questions` (a subset of what it answered), from its answers.jsonl."""
    path = run_dir / "eval" / "answers.jsonl"
    if not path.is_file():
        return None
    correct = {r["row_id"]: r["correct"] for r in map(json.loads, path.read_text().splitlines())}
    if not all(q.row_id in correct for q in questions):
        return None
    return sum(correct[q.row_id] for q in questions) / len(questions)


def write_table(results: dict, runs: Path) -> None:
    """results.md: one row per recipe; exact match on the 40-question slice every run answered (and on 200)."""
    small, full = test_slice(40), test_slice(200)
    lines = ["| trained groups | trainable params | steps | train time (s) | final val loss | "
             "exact match, 40 q | exact match, 200 q |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name in ORDER:
        r = results.get(name)
        if not r or "final_val_loss" not in r:
            continue
        cells = [accuracy_on(runs / name, qs) for qs in (small, full)]
        shown = [f"{c:.1%}" if c is not None else "-" for c in cells]
        lines.append(f"| {name} | {sum(r['trainable'].values()):,} | {r['steps']} | {r['train_seconds']} | "
                     f"{r['final_val_loss']:.4f} | {shown[0]} | {shown[1]} |")
    yes = [sum(s.outputs == "yes" for s in qs) / len(qs) for qs in (small, full)]
    overrides = sorted({" ".join(r.get("overrides", [])) or "none" for r in results.values()})
    lines.append(f"\nAlways answering \"yes\" scores {yes[0]:.1%} (40 q) / {yes[1]:.1%} (200 q). Settings: "
                 f"recipes {RECIPES}/<groups> with overrides {overrides}; the questions are spread "
                 "evenly over the easy-VQA test set, the 40 a subset of the 200; greedy answers, exact match.")
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

if __name__ == "__main__":
    main()
