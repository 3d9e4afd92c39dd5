"""`gitllm demo`: the whole mission offline in one command, through the public APIs a user would call.

Prepares the zoo (SmolLM2-135M-Instruct + DINOv2-S), trains a GIT-LLM on easy-VQA with the shipped recipe
`demo/easyvqa` (`gitllm.train.train`, frozen-encoder feature cache on), evaluates greedy exact match on the
easy-VQA test set (`gitllm.eval.evaluate`), answers questions about test images and scikit-image's chelsea.png
(`gitllm.play.ask`), draws the visual words of chelsea.png (`gitllm.play.visual_words`) and the loss curve
(`gitllm.train.plot.plot_runs`). A second run reuses the trained model and the feature cache unless `retrain`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

RECIPE = "demo/easyvqa"  # a shipped recipe's name (gitllm.train.recipes)
ZOO_PARTS = ("dinov2-small", "smollm2-135m-instruct")
TEST_SET = "easyvqa:test"
CHELSEA_QUESTIONS = ("what color is the shape?", "what shape is in the image?", "is there a cat in the image?")
EASYVQA_SHOWN = 6  # test questions answered one by one in the summary
TRAIN_BUDGET_S = 3600.0  # a safety net only: the recipe's max_steps end training on any working machine
GALLERY_SIZE = 200


@dataclass
class DemoResult:
    """Seconds per stage (setup = zoo preparation, excluded from the budget), the test accuracy, the
    questions asked with their answers, and where every artifact is."""

    out_dir: Path
    seconds: dict[str, float] = field(default_factory=dict)
    accuracy: float = 0.0
    blind_accuracy: float = 0.0  # the same questions with the images shuffled across them (gitllm.eval)
    test_questions: int = 0
    trained: bool = False
    matmul_gflops: float = 0.0  # this machine's fp32 matmul speed on torch's threads (gitllm.machine)
    threads: int = 0  # torch's CPU threads
    steps: int = 0  # optimizer steps trained (0 when the model was reused)
    planned_steps: int = 0  # the recipe's max_steps
    answers: list[dict[str, str]] = field(default_factory=list)
    artifacts: dict[str, Path] = field(default_factory=dict)


def chelsea_path() -> Path:
    """scikit-image's cat photo, located without importing scikit-image."""
    spec = find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-image is not installed (pip install scikit-image): chelsea.png comes from it")
    return Path(spec.submodule_search_locations[0]) / "data" / "chelsea.png"


def _timed(seconds: dict[str, float], stage: str, start: float) -> None:
    seconds[stage] = round(time.perf_counter() - start, 1)


def run_demo(
    out_dir: str | Path = "runs/demo",
    recipe: str | Path = RECIPE,
    overrides: Sequence[str] = (),
    retrain: bool = False,
    budget_s: float = TRAIN_BUDGET_S,
    eval_limit: int | None = None,
    eval_batch_size: int = 256,
    autocast: str | None = "bfloat16",
) -> DemoResult:
    """Run every stage into `out_dir` (run/, eval/, chelsea_visual_words.png, loss_curve.png, summary.json).

    `overrides` are `key=value` training-config overrides (e.g. `max_steps=10`, `seed=3`); training runs the
    recipe's steps, unless the `budget_s` safety net stops it first (the summary then says so); `eval_limit`
    evaluates the first N test questions only (None: all of them); evaluation and play keep fp32 weights and
    compute under `autocast` (float32 or None: plain fp32, as `compute_in`)."""
    import torch

    from gitllm.demo.budget import TimeBudget
    from gitllm.machine import matmul_peak
    from gitllm.play.loader import compute_in
    from gitllm.train import load_config, train
    from gitllm.zoo import prepare

    out = Path(out_dir)
    run_dir = out / "run"
    result = DemoResult(out)
    config = load_config(recipe, [*overrides, f"output_dir={run_dir}"])
    config.resume = "never"

    result.threads, result.matmul_gflops = torch.get_num_threads(), round(matmul_peak() / 1e9, 1)
    start = time.perf_counter()
    if config.model.init_from is None:
        for name in {config.model.vision, config.model.llm} & set(ZOO_PARTS):
            prepare(name)
    _timed(result.seconds, "setup", start)

    start = time.perf_counter()
    result.planned_steps = config.max_steps
    if retrain or not _finished(run_dir, config):
        result.steps = train(config, callbacks=[TimeBudget(budget_s)]).steps
        result.trained = True
    _timed(result.seconds, "train", start)

    with compute_in(autocast):
        _evaluate_and_play(config, out, run_dir, result, eval_limit, eval_batch_size)

    result.artifacts = {
        "trained model (run folder)": run_dir,
        "test metrics": out / "eval" / "metrics.json",
        "test answers": out / "eval" / "answers.jsonl",
        "answer gallery": out / "eval" / "gallery.html",
        "visual words of chelsea.png": out / "chelsea_visual_words.png",
        "visual-words counts": out / "chelsea_visual_words.txt",
        "loss curve": out / "loss_curve.png",
        "summary": out / "summary.json",
    }
    (out / "summary.json").write_text(json.dumps(_jsonable(result), indent=2) + "\n")
    return result


def _evaluate_and_play(config: Any, out: Path, run_dir: Path, result: DemoResult, eval_limit: int | None,
                       eval_batch_size: int) -> None:
    """Load the fp32 model and evaluate on the test set (timed as 'eval'), then ask, draw visual words and plot
    (timed as 'play')."""
    from gitllm.eval import evaluate
    from gitllm.play import GenerationSettings, ask, load_model, visual_words
    from gitllm.train.plot import plot_runs

    start = time.perf_counter()
    model, processor = load_model(run_dir, "float32")
    template = config.data.template
    metrics = evaluate(model, processor, TEST_SET, template, GenerationSettings(max_new_tokens=8), eval_batch_size,
                       out / "eval", limit=eval_limit, loss=False, gallery_limit=GALLERY_SIZE, feature_cache=True,
                       cache_dir=config.cache_dir)
    result.accuracy, result.test_questions = metrics["vqa_exact_match"], metrics["vqa_count"]
    result.blind_accuracy = metrics["vqa_blind_exact_match"]
    _timed(result.seconds, "eval", start)

    start = time.perf_counter()
    result.answers = _play(model, processor, template, out / "eval" / "answers.jsonl", ask)
    words = visual_words(model, processor, chelsea_path(), out / "chelsea_visual_words.png")
    (out / "chelsea_visual_words.txt").write_text(words.table() + "\n")
    plot_runs([run_dir], out / "loss_curve.png", title="gitllm demo: easy-VQA training", smooth=5)
    _timed(result.seconds, "play", start)


def _finished(run_dir: Path, config: Any) -> bool:
    """Whether `run_dir` holds a finished training run of exactly `config` (else the demo trains again)."""
    from gitllm.train import load_config
    from gitllm.train.config import CONFIG_FILE_NAME
    from gitllm.train.engine import FINAL_DIR

    saved = run_dir / CONFIG_FILE_NAME
    return (run_dir / FINAL_DIR).is_dir() and saved.is_file() and asdict(load_config(saved)) == asdict(config)


def _play(model: Any, processor: Any, template: str, answers_file: Path, ask: Any) -> list[dict[str, str]]:
    """Ask the model about a few test images (one by one, through `ask`) and about chelsea.png."""
    import easy_vqa

    rows = [json.loads(line) for line in answers_file.read_text().splitlines()[:EASYVQA_SHOWN]]
    test_images = easy_vqa.get_test_image_paths()
    _, _, image_ids = easy_vqa.get_test_questions()
    images = [test_images[image_ids[int(row["row_id"])]] for row in rows] + [chelsea_path()] * len(CHELSEA_QUESTIONS)
    questions = [row["question"] for row in rows] + list(CHELSEA_QUESTIONS)
    references = [row["reference"] for row in rows] + [""] * len(CHELSEA_QUESTIONS)
    answers = ask(model, processor, images, questions, template=template, max_new_tokens=8)
    return [{"image": str(i), "question": q, "answer": a, "reference": r}
            for i, q, a, r in zip(images, questions, answers, references)]


def _jsonable(result: DemoResult) -> dict[str, Any]:
    return {"out_dir": str(result.out_dir), "seconds": result.seconds, "accuracy": result.accuracy,
            "blind_accuracy": result.blind_accuracy, "matmul_gflops": result.matmul_gflops, "threads": result.threads,
            "test_questions": result.test_questions, "trained": result.trained, "steps": result.steps,
            "planned_steps": result.planned_steps, "answers": result.answers,
            "artifacts": {k: str(v) for k, v in result.artifacts.items()}}


def _steps(result: DemoResult) -> str:
    if not result.trained:
        return " (reused the trained model; --retrain to redo)"
    if result.steps < result.planned_steps:
        return (f" STOPPED EARLY by the --budget safety net after {result.steps} of {result.planned_steps} steps: "
                "the accuracy below is not the recipe's (rerun with a larger --budget)")
    return f" ({result.steps} steps)"


def summary(result: DemoResult) -> str:
    """What a newcomer reads at the end: accuracy, times, sample answers, where each artifact is."""
    s = result.seconds
    lines = [
        f"easy-VQA test exact match: {result.accuracy:.1%} on {result.test_questions} questions (greedy); "
        f"image-blind {result.blind_accuracy:.1%} (images shuffled across questions): the image adds "
        f"{100 * (result.accuracy - result.blind_accuracy):+.1f} points",
        f"setup (zoo preparation): {s['setup']:.0f} s",
        f"train{_steps(result)}: {s['train']:.0f} s, "
        f"evaluate: {s['eval']:.0f} s -> train + eval {s['train'] + s['eval']:.0f} s; ask/visual words/plot: "
        f"{s['play']:.0f} s",
        f"machine: fp32 matmul {result.matmul_gflops:.0f} GFLOP/s on {result.threads} threads (times scale with it)",
        "answers:",
    ]
    for row in result.answers:
        reference = f"  (reference: {row['reference']})" if row["reference"] else ""
        lines.append(f"  {Path(row['image']).name}: {row['question']} -> {row['answer']}{reference}")
    lines.append("artifacts:")
    lines += [f"  {name}: {path}" for name, path in result.artifacts.items()]
    return "\n".join(lines)
