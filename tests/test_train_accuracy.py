"""Answer accuracy at evaluation steps (`eval_accuracy`, `eval_blind`): logged to metrics.jsonl beside eval_loss,
drawn on the loss-curve plot, from the feature cache when training uses it; and the layering it relies on."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from gitllm.train import load_config, train
from gitllm.train.plot import plot_runs, read_accuracy
from test_play_helpers import one_torch_thread  # noqa: F401 (fixture)
from test_train_support import tiny_config


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_training_logs_real_and_blind_accuracy_at_each_evaluation(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys.modules["gitllm.train.accuracy"], "ANSWER_TOKENS", 2)  # the tiny model never stops
    evaluate_module = sys.modules["gitllm.eval.evaluate"]  # the module; `gitllm.eval.evaluate` is the function
    passes: list[bool] = []  # whether each blind pass got vision features (the cache) instead of pixels
    original = evaluate_module.blind_answers
    monkeypatch.setattr(evaluate_module, "blind_answers",
                        lambda *a, **k: passes.append(a[3] is not None) or original(*a, **k))
    train(tiny_config(tmp_path, eval_steps=2, eval_accuracy=3, data={"train": [str(tmp_path / "data.jsonl")],
                                                                     "val_size": 5}))
    accuracy = [r for r in _records(tmp_path / "run") if "eval_accuracy" in r]
    assert [r["step"] for r in accuracy] == [0, 2, 4]  # before training, then every eval_steps
    for record in accuracy:
        keys = {"eval_blind_accuracy", "eval_zeroed_accuracy", "eval_accuracy_other", "eval_blind_accuracy_other"}
        assert keys <= set(record) and all(0.0 <= record[k] <= 1.0 for k in keys)
        assert round(record["eval_accuracy"] * 3) == record["eval_accuracy"] * 3  # 3 questions answered
    loss_steps = [r["step"] for r in _records(tmp_path / "run") if "eval_loss" in r]
    assert loss_steps == [0, 2, 4]
    assert passes == [True, True, True]  # the frozen tower's cached features, shuffled: nothing re-encoded
    curves = read_accuracy(tmp_path / "run")
    assert [s for s, _ in curves["eval_accuracy"]] == [0, 2, 4] and len(curves["eval_blind_accuracy"]) == 3
    out = plot_runs([tmp_path / "run"], tmp_path / "curves.png")
    assert Image.open(out).size[0] > 1800  # three panels: train loss, validation loss, validation accuracy


def test_accuracy_without_blind_and_without_the_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys.modules["gitllm.train.accuracy"], "ANSWER_TOKENS", 2)
    train(tiny_config(tmp_path, eval_accuracy=2, eval_blind=False, feature_cache="off"))
    (record,) = [r for r in _records(tmp_path / "run") if "eval_accuracy" in r]  # the final evaluation only
    assert record["step"] == 4 and "eval_blind_accuracy" not in record


def test_eval_accuracy_is_checked() -> None:
    with pytest.raises(ValueError, match="eval_accuracy"):
        load_config({"eval_accuracy": -1})


BELOW = {  # package -> the gitllm packages its modules (CLI modules aside) may import
    "infer": {"data", "model", "zoo"},
    "eval": {"data", "model", "zoo", "infer"},
    "train": {"data", "model", "zoo", "infer", "eval"},
}


def test_layering_train_builds_on_eval_which_builds_on_infer_only() -> None:
    """Training calls gitllm.eval, so eval (and the gitllm.infer floor under both) must not import train or play."""
    import gitllm

    root = Path(gitllm.__file__).parent
    for package, allowed in BELOW.items():
        for module in (root / package).glob("*.py"):
            if module.name == "cli.py":
                continue
            for node in ast.walk(ast.parse(module.read_text())):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                    [a.name for a in node.names] if isinstance(node, ast.Import) else []
                for name in names:
                    if name.startswith("gitllm."):
                        assert name.split(".")[1] in allowed | {package}, f"{package}/{module.name} imports {name}"
