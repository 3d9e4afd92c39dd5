"""`run_experiment`: every run of an experiment, each trained (or resumed) and scored once, then its results page.

Per run: stale (trained with another config) -> refused unless `redo_stale`; not trained -> train (resuming
from its last checkpoint when one is there), then drop the checkpoints (final/ holds the trained weights);
trained but not scored on this test set and limit -> score. The results page is rewritten after each run.
"""

from __future__ import annotations

import gc
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitllm.experiment.plan import (
    CHECKPOINT_PREFIX, DEFAULT_SEEDS, SAVE_EVERY, SCORE_SECONDS_PER_QUESTION, Run, checkpoints, experiment_name,
    is_stale, is_trained, plan_runs, train_seconds, train_steps,
)
from gitllm.experiment.report import write_report
from gitllm.experiment.score import TEST_SET, read_score, score_run


@dataclass
class ExperimentResult:
    """What a call did: runs trained, resumed and scored (by 'key seed N'), the results page."""

    runs: list[Run]
    trained: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    scored: list[str] = field(default_factory=list)
    results: Path | None = None


def _name(run: Run) -> str:
    return f"{run.key} seed {run.seed}"


def _status(run: Run, data: str, limit: int | None) -> str:
    if is_stale(run):
        return "stale: trained with another config"
    if is_trained(run):
        return "done" if read_score(run.run_dir, data, limit) else "trained, to score"
    found = checkpoints(run)
    return f"resumes from {found[-1].name}" if found else "to train"


def count_questions(data: str, limit: int | None) -> int:
    """Questions with an answer in `data` (images not decoded), at most `limit`."""
    from gitllm.data import RowPolicy, read

    total = sum(1 for s in read(data, None, RowPolicy(skip_bad=True)) if s.conversation[-1].role == "assistant")
    return total if limit is None else min(limit, total)


def describe_plan(runs: Sequence[Run], data: str = TEST_SET, limit: int | None = None) -> str:
    """One line per run (status, steps, rough hours left) and the total: what --dry-run prints."""
    questions = count_questions(data, limit)
    lines, total = [], 0.0
    for run in runs:
        status, steps = _status(run, data, limit), train_steps(run.config)
        left = 0.0 if status == "done" else questions * SCORE_SECONDS_PER_QUESTION
        if not is_trained(run):
            found = [] if is_stale(run) else checkpoints(run)
            done_steps = int(found[-1].name[len(CHECKPOINT_PREFIX):]) if found else 0
            left += train_seconds(run.config, max(steps - done_steps, 0))
        total += left
        lines.append(f"{_name(run):<34} {status:<36} {steps:>6} steps  ~{left / 3600:5.2f} h  -> {run.run_dir}")
    lines.append(f"{len(runs)} runs; scoring on {questions} questions of {data}; rough time left on one CPU thread: "
                 f"~{total / 3600:.1f} h (train + score estimates in gitllm.experiment.plan)")
    return "\n".join(lines)


def run_experiment(
    experiment: str | Path,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    recipes: Sequence[str] | None = None,
    runs_dir: str | Path = "runs",
    docs_dir: str | Path = "docs",
    overrides: Sequence[str] = (),
    eval_data: str = TEST_SET,
    eval_limit: int | None = None,
    save_every: int = SAVE_EVERY,
    redo_stale: bool = False,
    command: str = "",
) -> ExperimentResult:
    """Train and score every run not done yet, then write DOCS_DIR/EXPERIMENT/results.md and loss curves.

    `command` is the reproducing command quoted on the results page."""
    from gitllm.train import train

    runs = plan_runs(experiment, seeds, recipes, runs_dir, overrides, save_every)
    stale = [run for run in runs if is_stale(run)]
    if stale and not redo_stale:
        raise ValueError(f"{len(stale)} run folder(s) were trained with another config (e.g. "
                         f"{stale[0].run_dir}): pass --redo-stale to delete and redo them, or another --runs-dir")
    result = ExperimentResult(runs)
    name = experiment_name(experiment)
    out_dir = Path(docs_dir) / name
    scores: dict[Run, dict[str, Any]] = {}
    for k, run in enumerate(runs, 1):
        print(f"[{k}/{len(runs)}] {name} {_name(run)}: {_status(run, eval_data, eval_limit)}", flush=True)
        if run in stale:
            shutil.rmtree(run.run_dir)
        if not is_trained(run):
            (result.resumed if checkpoints(run) else result.trained).append(_name(run))
            start = time.perf_counter()
            train(run.config)
            for folder in checkpoints(run):
                shutil.rmtree(folder)
            print(f"[{k}/{len(runs)}] trained in {time.perf_counter() - start:.0f} s", flush=True)
        score = read_score(run.run_dir, eval_data, eval_limit)
        if score is None:
            score = score_run(run.run_dir, run.config.data.template, eval_data, eval_limit, run.config.cache_dir)
            result.scored.append(_name(run))
        scores[run] = score
        print(f"[{k}/{len(runs)}] accuracy {100 * score['accuracy']:.1f}%, image-blind {100 * score['blind']:.1f}%",
              flush=True)
        gc.collect()
        result.results = write_report(f"Experiment {name}", command or f"gitllm experiment {name}", runs, scores,
                                      out_dir)
    return result
