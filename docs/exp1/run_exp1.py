"""Experiment 1 offline: train every configs/exp1-modules/offline recipe one after another, then score each on
a fixed slice of the easy-VQA test set (greedy generation, exact match) and write the table and the plot here.

    .venv/bin/python docs/exp1/run_exp1.py [--recipes proj proj+lora ...] [--questions 200] [key=value ...]

Frozen-ViT recipes share one feature cache (train, validation and test images are encoded once in all).
"""

from __future__ import annotations

import argparse
import json
import time
from itertools import islice
from pathlib import Path

import torch

from gitllm.data import Collator, Encoder, read
from gitllm.train import FeatureCache, ImageKeys, encoder_identity, load_config, train
from gitllm.train.build import build_model
from gitllm.train.groups import GROUPS, apply_groups, unwrap
from gitllm.train.plot import plot_runs
from gitllm.train.state import load_trainable

HERE = Path(__file__).resolve().parent
RECIPES = HERE.parents[1] / "configs" / "exp1-modules" / "offline"
ORDER = ["proj", "proj+lora", "proj+llm", "proj+vit", "proj+head", "proj+lora+vit", "proj+lora+head"]


def test_slice(n: int) -> list:
    """n questions spread evenly over the easy-VQA test set (it lists questions grouped by image)."""
    samples = list(read("easyvqa:test"))
    return samples[:: len(samples) // n][:n]


@torch.no_grad()
def exact_match(run_dir: Path, samples: list, batch_size: int = 25) -> tuple[float, list[str]]:
    """Greedy answers of the trained run (no merge needed) and their exact-match accuracy."""
    config = load_config(run_dir / "train_config.yaml")
    model, processor = build_model(config)
    model = apply_groups(model, config.groups, config.lora, config.vit_lora)
    load_trainable(model, run_dir / "final")
    model = unwrap(model.merge_and_unload() if model is not unwrap(model) else model).eval()
    tokenizer = processor.tokenizer
    encoder = Encoder(tokenizer, processor.image_processor, config.data.template)
    collate = Collator.for_tokenizer(tokenizer)
    frozen = not any(GROUPS[g].tower == "vision_model" for g in config.groups)
    cache, keys = (FeatureCache(encoder_identity(model, processor.image_processor), config.cache_dir), ImageKeys())
    answers: list[str] = []
    for start in range(0, len(samples), batch_size):
        chunk = samples[start : start + batch_size]
        batch = collate([encoder.prompt(s) for s in chunk])
        images: dict = {"pixel_values": batch["pixel_values"]}
        if frozen:
            chunk_keys = [keys(s) for s in chunk]
            cache.fill(chunk, chunk_keys, model, encoder.pixels)
            images = {"vision_features": torch.stack([cache.get(k) for k in chunk_keys])}
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **images,
                                 max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=tokenizer.eos_token_id)
        answers += [t.strip().lower() for t in tokenizer.batch_decode(out, skip_special_tokens=True)]
    correct = sum(a == s.outputs.strip().lower() for a, s in zip(answers, samples))
    return correct / len(samples), answers


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
        accuracy, answers = exact_match(run_dir, samples)
        results.setdefault(name, {})["easyvqa_exact_match"] = accuracy
        results[name]["sample_answers"] = answers[:8]
        print(f"{name}: exact match {accuracy:.1%} on {len(samples)} test questions", flush=True)
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
