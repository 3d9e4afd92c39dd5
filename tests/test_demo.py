"""`gitllm demo` end to end on a tiny random model and a few steps: every stage runs, every artifact exists,
a second run reuses the trained model, and the CLI prints the summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitllm.cli import main
from gitllm.demo import RECIPE, run_demo, summary
from gitllm.train import load_config
from test_train_support import tiny_model_dir


def _overrides(tmp_path: Path) -> list[str]:
    return [f"model.init_from={tiny_model_dir(tmp_path)}", "model.image_size=null", "data.max_train_samples=16", "data.val_size=4",
            "max_steps=2", "batch_size=4", "logging_steps=1", f"cache_dir={tmp_path / 'features'}"]


def test_recipe_is_a_valid_training_config() -> None:
    config = load_config(RECIPE)
    assert config.data.train == ["easyvqa:train"] and set(config.groups) <= {"proj", "lora"}


def test_demo_runs_end_to_end_then_reuses_the_model(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = run_demo(out, overrides=_overrides(tmp_path), eval_limit=6, eval_batch_size=4, autocast=None)
    assert result.trained and result.test_questions == 6 and 0.0 <= result.accuracy <= 1.0
    for path in result.artifacts.values():
        assert path.exists(), path
    assert json.loads((out / "summary.json").read_text())["test_questions"] == 6
    assert any("chelsea" in row["image"] for row in result.answers)
    text = summary(result)
    assert "exact match" in text and str(out / "loss_curve.png") in text
    assert 0.0 <= result.blind_accuracy <= 1.0 and f"image-blind {result.blind_accuracy:.1%}" in text
    assert result.matmul_gflops > 0 and f"machine: fp32 matmul {result.matmul_gflops:.0f} GFLOP/s" in text

    again = run_demo(out, overrides=_overrides(tmp_path), eval_limit=6, eval_batch_size=4, autocast=None)
    assert not again.trained and again.accuracy == pytest.approx(result.accuracy)


def test_cli_prints_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    code = main(["demo", "--out-dir", str(out), "--eval-limit", "4", "--eval-batch-size", "4", "--autocast", "float32",
                 "--seed", "3", *_overrides(tmp_path)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "easy-VQA test exact match" in printed and "visual words of chelsea.png" in printed
    assert "train (2 steps)" in printed
    assert load_config(out / "run" / "train_config.yaml").seed == 3


def test_summary_says_when_the_budget_cut_training_short(tmp_path: Path) -> None:
    result = run_demo(tmp_path / "demo", overrides=_overrides(tmp_path), budget_s=0.0, eval_limit=2,
                      eval_batch_size=2, autocast=None)
    assert (result.steps, result.planned_steps) == (1, 2)
    assert "STOPPED EARLY by the --budget safety net after 1 of 2 steps" in summary(result)


def test_time_budget_stops_training_after_the_first_step(tmp_path: Path) -> None:
    from gitllm.demo import TimeBudget
    from gitllm.train import train
    from test_train_support import tiny_config

    result = train(tiny_config(tmp_path, max_steps=5), callbacks=[TimeBudget(0.0)])
    assert result.steps == 1


def test_a_changed_recipe_trains_again(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    run_demo(out, overrides=_overrides(tmp_path), eval_limit=2, eval_batch_size=2, autocast=None)
    again = run_demo(out, overrides=[*_overrides(tmp_path), "optim.lr=0.01"], eval_limit=2, eval_batch_size=2,
                     autocast=None)
    assert again.trained
