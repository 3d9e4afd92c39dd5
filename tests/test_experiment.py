"""`gitllm experiment`: recipes x seeds trained and scored once, tabulated with mean and spread; a second call
does nothing, an interrupted run resumes from its checkpoint, a changed recipe is refused until --redo-stale;
the shipped experiments all train with the experiments' base recipe."""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import pytest
import yaml

import gitllm.train
from gitllm.experiment import EXPERIMENTS, plan_runs, run_experiment
from gitllm.experiment import cli as experiment_cli
from gitllm.train.recipes import RECIPES_DIR
from test_train_resume import CrashAt, Crash
from test_train_support import tiny_config, tiny_table

SEEDS = [0, 1]
LIMIT = 6


def _write_recipes(root: Path, **changes: Any) -> Path:
    """Two tiny recipes (proj, proj+lora) in ROOT/recipes; `changes` replace keys of the proj recipe."""
    folder = root / "recipes"
    folder.mkdir(exist_ok=True)
    for groups in (["proj"], ["proj", "lora"]):
        config = tiny_config(root, groups=groups, max_steps=3, **(changes if groups == ["proj"] else {}))
        (folder / f"{'+'.join(groups)}.yaml").write_text(yaml.safe_dump(config))
    return folder


def _run(root: Path, runs: str = "runs", **kwargs: Any) -> Any:
    return run_experiment(root / "recipes", kwargs.pop("seeds", SEEDS), runs_dir=root / runs, docs_dir=root / "docs",
                          eval_data=str(tiny_table(root)), eval_limit=kwargs.pop("eval_limit", LIMIT), **kwargs)


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gitllm")
    experiment_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    root = tmp_path_factory.mktemp("experiment")
    _write_recipes(root)
    return root, _run(root)


def test_every_run_is_trained_scored_and_tabulated(done: tuple[Path, Any]) -> None:
    root, result = done
    assert result.trained == ["proj seed 0", "proj seed 1", "proj+lora seed 0", "proj+lora seed 1"]
    assert result.scored == result.trained and result.resumed == []
    docs = root / "docs" / "recipes"
    assert result.results == docs / "results.md"
    for name in ("loss_curves.png", "loss_curves_proj.png", "loss_curves_proj+lora.png"):
        assert (docs / name).read_bytes()[:4] == b"\x89PNG"
    page = result.results.read_text()
    for key in ("proj", "proj+lora"):
        scores = [json.loads((root / "runs" / "recipes" / key / f"seed-{s}" / "score.json").read_text()) for s in SEEDS]
        assert all(score["questions"] == LIMIT and score["limit"] == LIMIT for score in scores)
        accuracy, blind = [score["accuracy"] for score in scores], [score["blind"] for score in scores]
        mean, sd = 100 * statistics.fmean(accuracy), 100 * statistics.stdev(accuracy)
        row = next(line for line in page.splitlines() if line.startswith(f"| {key} ("))
        assert f"| 2/2 | {mean:.1f} ± {sd:.1f} |" in row
        assert f"| {100 * statistics.fmean(blind):.1f} ± {100 * statistics.stdev(blind):.1f} |" in row
        assert not list((root / "runs" / "recipes" / key / "seed-0").glob("checkpoint-*"))  # final/ is kept
        assert (root / "runs" / "recipes" / key / "seed-0" / "final" / "trainable.safetensors").is_file()
    assert f"first {LIMIT} questions only" in page
    summary = json.loads((docs / "results.json").read_text())
    assert set(summary) == {"proj", "proj+lora"} and set(summary["proj"]["runs"]) == {"0", "1"}


def test_a_second_call_trains_and_scores_nothing(done: tuple[Path, Any]) -> None:
    root, _ = done
    weights = root / "runs" / "recipes" / "proj" / "seed-0" / "final" / "trainable.safetensors"
    before = weights.stat().st_mtime_ns
    again = _run(root)
    assert again.trained == again.resumed == again.scored == []
    assert weights.stat().st_mtime_ns == before


def test_another_eval_limit_rescores_without_training(done: tuple[Path, Any]) -> None:
    root, _ = done
    again = _run(root, seeds=[0], recipes=["proj"], eval_limit=4)
    assert again.trained == [] and again.scored == ["proj seed 0"]
    assert json.loads((root / "runs" / "recipes" / "proj" / "seed-0" / "score.json").read_text())["questions"] == 4


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_recipes(tmp_path)
    real_train = gitllm.train.train
    monkeypatch.setattr(gitllm.train, "train", lambda config: real_train(config, callbacks=[CrashAt(2)]))
    with pytest.raises(Crash):
        _run(tmp_path, seeds=[0], recipes=["proj"], save_every=1)
    run_dir = tmp_path / "runs" / "recipes" / "proj" / "seed-0"
    # CrashAt stops step 2 before its checkpoint is saved: the last one is step 1's.
    assert [p.name for p in run_dir.glob("checkpoint-*")] == ["checkpoint-1"] and not (run_dir / "final").exists()
    monkeypatch.setattr(gitllm.train, "train", real_train)
    assert _cli(["experiment", str(tmp_path / "recipes"), "--dry-run", "--seeds", "0", "--recipes", "proj",
                     "--runs-dir", str(tmp_path / "runs"), "--eval-data", str(tiny_table(tmp_path))]) == 0
    resumed = _run(tmp_path, seeds=[0], recipes=["proj"], save_every=1)
    assert resumed.resumed == ["proj seed 0"] and resumed.trained == []
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == [1, 2, 3]


def test_dry_run_prints_each_runs_state_and_cost(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_recipes(tmp_path)
    _run(tmp_path, seeds=[0], recipes=["proj"])
    capsys.readouterr()
    assert _cli(["experiment", str(tmp_path / "recipes"), "--dry-run", "--seeds", "0,1", "--eval-limit", "6",
                     "--runs-dir", str(tmp_path / "runs"), "--eval-data", str(tiny_table(tmp_path))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("proj seed 0") and " done " in lines[0] and "~ 0.00 h" in lines[0]
    assert lines[1].startswith("proj seed 1") and " to train " in lines[1] and "3 steps" in lines[1]
    assert lines[-1].startswith("4 runs; scoring on 6 questions of ")
    assert not (tmp_path / "runs" / "recipes" / "proj" / "seed-1").exists()


def test_a_changed_recipe_is_stale_until_redone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_recipes(tmp_path)
    _run(tmp_path, seeds=[0], recipes=["proj"])
    _write_recipes(tmp_path, optim={"lr": 2e-2, "scheduler": "constant"})
    capsys.readouterr()
    argv = ["experiment", str(tmp_path / "recipes"), "--seeds", "0", "--recipes", "proj", "--eval-limit", "6",
            "--runs-dir", str(tmp_path / "runs"), "--docs-dir", str(tmp_path / "docs"),
            "--eval-data", str(tiny_table(tmp_path))]
    assert _cli(argv) == 2
    assert "trained with another config" in capsys.readouterr().err
    assert _cli([*argv, "--redo-stale"]) == 0
    assert "trained 1, resumed 0, scored 1 of 1 runs" in capsys.readouterr().out
    saved = yaml.safe_load((tmp_path / "runs" / "recipes" / "proj" / "seed-0" / "train_config.yaml").read_text())
    assert saved["optim"]["lr"] == 2e-2


def test_unknown_recipe_and_experiment_are_clear_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(["experiment", "exp2", "--recipes", "gpt-17", "--dry-run"]) == 2
    known = "gemma-3-270m, smollm2-135m, smollm2-135m-random"
    assert f"no recipe 'gpt-17' in experiment 'exp2'; its recipes: {known}" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown experiment 'exp9'"):
        plan_runs("exp9")


def test_shipped_experiments_train_with_the_experiments_base_recipe(tmp_path: Path) -> None:
    for experiment, folder in EXPERIMENTS.items():
        files = sorted((RECIPES_DIR / folder).glob("*.yaml"))
        assert files and all(yaml.safe_load(f.read_text())["base"] == "../../experiment-base.yaml" for f in files)
        runs = plan_runs(experiment, seeds=[0, 1, 2], runs_dir=tmp_path)
        assert len(runs) == 3 * len(files)
        assert len({run.label for run in runs}) == len(files)  # one legend label per recipe
        assert all(run.run_dir == tmp_path / experiment / run.key / f"seed-{run.seed}" and run.config.seed == run.seed
                   and run.config.save_steps > 0 for run in runs)
    exp2 = {run.key: run.config.model.llm for run in plan_runs("exp2", seeds=[0])}
    assert exp2 == {"gemma-3-270m": "gemma-3-270m", "smollm2-135m": "smollm2-135m-instruct",
                    "smollm2-135m-random": "smollm2-135m-random"}
    assert [run.key for run in plan_runs("exp3", seeds=[0])] == ["easyvqa-400", "easyvqa-1600", "easyvqa-6400",
                                                                 "easyvqa-all"]
