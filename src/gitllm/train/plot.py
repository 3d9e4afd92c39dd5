"""Loss curves of several runs on one PNG: training loss (left) and validation loss (middle), one colour per
run, the legend naming the trained groups (as the seed's Experiment figures); and, when runs logged it
(`eval_accuracy`), validation accuracy with real images (solid) and image-blind (dashed) on the right."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from gitllm.train.config import CONFIG_FILE_NAME, load_config
from gitllm.train.engine import METRICS_FILE


def read_curves(run_dir: Path) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(train, validation) loss points (step, loss) of a run, from its metrics.jsonl."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        raise ValueError(f"{run_dir} has no {METRICS_FILE} (not a gitllm training run?)")
    train, val = [], []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if "loss" in record:
            train.append((record["step"], record["loss"]))
        if "eval_loss" in record:
            val.append((record["step"], record["eval_loss"]))
    return train, val


ACCURACY_KEYS = {"eval_accuracy": "-", "eval_blind_accuracy": "--"}  # line style per logged accuracy


def read_accuracy(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Validation accuracy points (step, accuracy) per key of ACCURACY_KEYS that the run logged."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for line in (Path(run_dir) / METRICS_FILE).read_text().splitlines():
        record = json.loads(line)
        for key in ACCURACY_KEYS:
            if key in record:
                curves.setdefault(key, []).append((record["step"], record[key]))
    return curves


def run_label(run_dir: Path) -> str:
    config_file = Path(run_dir) / CONFIG_FILE_NAME
    return load_config(config_file).label if config_file.is_file() else Path(run_dir).name


def plot_runs(run_dirs: Sequence[str | Path], out: str | Path, title: str = "", smooth: int = 1) -> Path:
    """Write the PNG; `smooth` averages the training loss over that many logged points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = [read_curves(Path(run)) for run in run_dirs]
    accuracies = [read_accuracy(Path(run)) for run in run_dirs]
    panels = 3 if any(accuracies) else 2
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.5))
    ax_train, ax_val = axes[:2]
    for i, (run, (train, val), accuracy) in enumerate(zip(run_dirs, curves, accuracies)):
        colour, label = f"C{i % 10}", run_label(Path(run))
        if train:
            steps, losses = zip(*train)
            k = max(1, smooth)
            smoothed = [sum(losses[max(0, j - k + 1) : j + 1]) / len(losses[max(0, j - k + 1) : j + 1])
                        for j in range(len(losses))]
            ax_train.plot(steps, smoothed, color=colour, label=label)
        if val:
            steps, losses = zip(*val)
            ax_val.plot(steps, losses, color=colour, marker="o", label=label)
        for key, points in accuracy.items():
            steps, values = zip(*points)
            blind = " (image-blind)" if key == "eval_blind_accuracy" else ""
            axes[2].plot(steps, values, ACCURACY_KEYS[key], color=colour, marker="o", label=label + blind)
    names = ["training loss", "validation loss", "validation accuracy"][:panels]
    for ax, name in zip(axes, names):
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
