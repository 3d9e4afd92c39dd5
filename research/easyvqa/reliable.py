"""Lab for issue 12: one training variant of the demo recipe, one seed, scored on an image-disjoint validation
split carved from easy-VQA's training set (never the test set), with the image-blind score.

    python research/easyvqa/reliable.py NAME --seed S [--probe-every K] [key=value overrides ...]

Trains through `gitllm.train.train` (recipe `demo/easyvqa` + `data.val_by=image data.val_size=2000` +
overrides), then answers the 2,008 validation questions greedily from the feature cache, with the real image
features and with the features of another row's image (a fixed derangement): accuracy per question type
(what / yes-no / negated yes-no) for both. Every `--probe-every` steps a callback answers 256 validation
questions (real and blind), so the log shows when image use starts. One JSON line per run goes to
`reliable_results.jsonl`.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

from gitllm.model import GitLLMProcessor
from gitllm.infer.generate import GenerationSettings, generate_answers
from gitllm.train import load_config, train
from gitllm.train.data import set_image_size, split_samples
from gitllm.infer.features import sample_features

HERE = Path(__file__).resolve().parent
RECIPE = "demo/easyvqa"
BASE = ["data.val_by=image", "data.val_size=2000", "report_to=[]"]


def kind(question: str, answer: str) -> str:
    if answer not in ("yes", "no"):
        return "what"
    return "neg" if " not " in f" {question} " else "yes-no"


def score(samples, answers) -> dict[str, float]:
    by: dict[str, list[int]] = {}
    for s, a in zip(samples, answers):
        by.setdefault(kind(s.inputs, s.outputs), []).append(int(a.strip().lower() == s.outputs.lower()))
    out = {k: round(100 * sum(v) / len(v), 1) for k, v in sorted(by.items())}
    out["all"] = round(100 * sum(sum(v) for v in by.values()) / sum(len(v) for v in by.values()), 1)
    return out


def derangement(n: int, seed: int = 0) -> list[int]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order[1:] + order[:1]  # a cycle: nobody keeps its own image


def answer(model, processor, samples, features, template):
    settings = GenerationSettings(max_new_tokens=4)
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16):
        real = generate_answers(model, processor, samples, template, settings, 64, False, features)
        perm = derangement(len(samples))
        blind = generate_answers(model, processor, samples, template, settings, 64, False, [features[i] for i in perm])
    return score(samples, real), score(samples, blind)


class Probe(TrainerCallback):
    """Every `every` steps: real and blind accuracy on a fixed sample of validation questions."""

    def __init__(self, every: int, processor, samples, config, log: list) -> None:
        self.every, self.processor, self.samples, self.config, self.log = every, processor, samples, config, log
        self.features = None

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if not self.every or state.global_step % self.every:
            return
        if self.features is None:
            self.features = sample_features(model, self.processor, self.samples, self.config.cache_dir)
        was = model.training
        real, blind = answer(model, self.processor, self.samples, self.features, self.config.data.template)
        model.train(was)
        self.log.append({"step": state.global_step, "real": real, "blind": blind})
        print(f"[probe] step {state.global_step}: real {real} blind {blind}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--probe-every", type=int, default=40)
    ap.add_argument("--recipe", default=str(RECIPE))
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_intermixed_args()
    out = HERE / "runs" / f"{a.name}_s{a.seed}"
    config = load_config(a.recipe, [*BASE, *a.overrides, f"seed={a.seed}", f"output_dir={out}"])
    config.resume = "never"
    _, val = split_samples(config.data, config.seed)
    processor = GitLLMProcessor.from_parts(config.model.vision, config.model.llm)
    if config.model.image_size:
        set_image_size(processor.image_processor, config.model.image_size)
    probe_log: list[dict] = []
    probe = Probe(a.probe_every, processor, random.Random(1).sample(val, 256), config, probe_log)
    start = time.perf_counter()
    result = train(config, callbacks=[probe])
    seconds = time.perf_counter() - start
    from gitllm.play import load_model
    model, processor = load_model(out, "float32")
    features = sample_features(model, processor, val, config.cache_dir)
    real, blind = answer(model, processor, val, features, config.data.template)
    row = {"name": a.name, "seed": a.seed, "overrides": a.overrides, "steps": result.steps,
           "train_loss": round(result.train_loss, 4), "val_loss": result.eval_loss and round(result.eval_loss, 4),
           "train_s": round(seconds), "val": real, "blind": blind, "probes": probe_log}
    with (HERE / "reliable_results.jsonl").open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps({k: v for k, v in row.items() if k != "probes"}))


if __name__ == "__main__":
    main()
