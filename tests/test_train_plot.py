"""`gitllm plot`: train and validation curves of several runs on one PNG, legend naming the trained groups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from gitllm.train.config import CONFIG_FILE_NAME, dump_config, load_config
from gitllm.train.plot import plot_runs, read_curves, run_label


def _fake_run(folder: Path, groups: list[str], scale: float) -> Path:
    folder.mkdir(parents=True)
    dump_config(load_config({"groups": groups}), folder / CONFIG_FILE_NAME)
    lines = [{"step": s, "loss": scale / s} for s in range(1, 11)] + [{"step": s, "eval_loss": scale / s} for s in (5, 10)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return folder


def test_plot_two_runs(tmp_path: Path) -> None:
    a = _fake_run(tmp_path / "a", ["proj", "lora"], 2.0)
    b = _fake_run(tmp_path / "b", ["proj", "vit_lora", "head"], 3.0)
    assert run_label(a) == "Proj+LoRA" and run_label(b) == "Proj+ViT-LoRA+Head"
    train, val = read_curves(a)
    assert len(train) == 10 and val == [(5, 0.4), (10, 0.2)]
    out = plot_runs([a, b], tmp_path / "curves.png", "test", smooth=2)
    assert Image.open(out).size[0] > 600


def test_plot_rejects_non_runs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="metrics.jsonl"):
        plot_runs([tmp_path], tmp_path / "x.png")
