"""An experiment's results page: per recipe, accuracy and image-blind score as mean and spread over seeds, every
run's figures, and loss curves (`gitllm.train.plot.plot_runs`): one PNG comparing the recipes (their first
seed), one per recipe with all of its seeds."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitllm.experiment.plan import Run
from gitllm.train.plot import plot_runs, read_curves

RESULTS_FILE = "results.md"
RESULTS_JSON = "results.json"


def spread(values: Sequence[float]) -> str:
    """'mean ± sample std' in percent ('mean' alone for one value, '-' for none)."""
    if not values:
        return "-"
    mean = 100 * statistics.fmean(values)
    return f"{mean:.1f}" if len(values) == 1 else f"{mean:.1f} ± {100 * statistics.stdev(values):.1f}"


def _percent(value: float) -> str:
    return f"{100 * value:.1f}"


def _last_val_loss(run: Run) -> float | None:
    try:
        _, val = read_curves(run.run_dir)
    except ValueError:
        return None
    return val[-1][1] if val else None


def write_report(title: str, command: str, runs: Sequence[Run], scores: dict[Run, dict[str, Any]],
                 out_dir: Path) -> Path:
    """Write OUT_DIR/results.md, results.json and loss_curves*.png from the scored runs; returns results.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(run.key for run in runs))
    by_key = {key: [run for run in runs if run.key == key] for key in keys}
    scored = [run for run in runs if run in scores]
    first_score = scores[scored[0]] if scored else {}
    limit = first_score.get("limit")
    lines = [
        f"# {title}", "",
        f"Reproduce: `{command}` (resumable: finished runs are kept, interrupted ones resume).", "",
        f"Scored on `{first_score.get('data', '-')}`"
        + (f", first {limit} questions only (a smoke run, not a result)" if limit else ", every test question")
        + "; **blind**: the same questions with each image swapped for another question's image; "
        "**image use** = accuracy - blind. Mean ± sample standard deviation over seeds, in percent.", "",
        "| recipe | trained | seeds scored | accuracy | min - max | blind | image use | final val loss |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    summary = {}
    for key, group in by_key.items():
        done = [run for run in group if run in scores]
        accuracy = [scores[run]["accuracy"] for run in done]
        blind = [scores[run]["blind"] for run in done]
        use = [scores[run]["accuracy"] - scores[run]["blind"] for run in done]
        losses = [loss for loss in map(_last_val_loss, done) if loss is not None]
        span = f"{_percent(min(accuracy))} - {_percent(max(accuracy))}" if accuracy else "-"
        loss = f"{statistics.fmean(losses):.3f}" if losses else "-"
        groups = "+".join(group[0].config.groups)
        lines.append(f"| {key} ({group[0].label}) | {groups} | {len(done)}/{len(group)} | {spread(accuracy)} | "
                     f"{span} | {spread(blind)} | {spread(use)} | {loss} |")
        summary[key] = {"label": group[0].label, "groups": group[0].config.groups,
                        "runs": {run.seed: scores.get(run) for run in group}}
    lines += ["", "Every run:", "", "| recipe | seed | steps | accuracy | blind | questions | run folder |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for run in scored:
        score = scores[run]
        train, _ = read_curves(run.run_dir)
        steps = train[-1][0] if train else "-"
        lines.append(f"| {run.key} | {run.seed} | {steps} | {_percent(score['accuracy'])} | "
                     f"{_percent(score['blind'])} | {score['questions']} | `{run.run_dir}` |")
    lines += ["", "Loss curves: [all recipes (first seed)](loss_curves.png)"
              + "".join(f", [{key}](loss_curves_{key}.png)" for key in keys if any(r in scores for r in by_key[key])),
              ""]
    _plot(title, by_key, scores, out_dir)
    (out_dir / RESULTS_JSON).write_text(json.dumps(summary, indent=2) + "\n")
    path = out_dir / RESULTS_FILE
    path.write_text("\n".join(lines))
    return path


def _plot(title: str, by_key: dict[str, list[Run]], scores: dict[Run, dict[str, Any]], out_dir: Path) -> None:
    """loss_curves.png (each recipe's first scored seed) and loss_curves_KEY.png (all of a recipe's seeds)."""
    firsts = []
    for key, group in by_key.items():
        done = [run.run_dir for run in group if run in scores]
        if done:
            firsts.append(done[0])
            plot_runs(done, out_dir / f"loss_curves_{key}.png", title=f"{title}: {key}, every seed", smooth=5)
    if firsts:
        plot_runs(firsts, out_dir / "loss_curves.png", title=f"{title}: every recipe", smooth=5)
