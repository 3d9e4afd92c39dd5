"""NaN and infinity stop a run with a clear error, and nothing non-finite is saved, merged or loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import TrainerCallback

from gitllm.model.finite import NonFiniteError
from gitllm.play import load_model
from gitllm.train import merge_run, train
from gitllm.train.groups import unwrap
from test_train_support import tiny_config


class PoisonAt(TrainerCallback):
    """Sets one projection weight to NaN after optimizer step `step` (a diverged update)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, model=None, **kwargs):  # noqa: ANN001, ANN003
        if state.global_step == self.step:
            with torch.no_grad():
                unwrap(model).visual_projection[0].weight[0, 0] = float("nan")


def test_fault_nan_loss_stops_training_and_nothing_nan_is_saved(tmp_path: Path) -> None:
    config = tiny_config(tmp_path, max_steps=6, save_steps=2, save_total_limit=None)
    with pytest.raises(NonFiniteError, match=r"training loss is nan at step 4.*lower optim.lr"):
        train(config, callbacks=[PoisonAt(3)])
    run = tmp_path / "run"
    assert sorted(p.parent.name for p in run.rglob("trainable.safetensors")) == ["checkpoint-2"]  # no final/
    assert all(torch.isfinite(t).all() for t in load_file(run / "checkpoint-2" / "trainable.safetensors").values())


def test_fault_nan_weights_are_not_checkpointed(tmp_path: Path) -> None:
    with pytest.raises(NonFiniteError, match="refusing to save .*checkpoint-2"):
        train(tiny_config(tmp_path, max_steps=4, save_steps=2), callbacks=[PoisonAt(2)])
    assert not (tmp_path / "run" / "checkpoint-2" / "trainable.safetensors").exists()


def test_fault_nan_weights_after_the_last_step_are_not_saved(tmp_path: Path) -> None:
    with pytest.raises(NonFiniteError, match="refusing to save .*final.*visual_projection.0.weight"):
        train(tiny_config(tmp_path, max_steps=2), callbacks=[PoisonAt(2)])
    assert not (tmp_path / "run" / "final" / "trainable.safetensors").exists()


def test_fault_merge_and_load_refuse_nan_weights(tmp_path: Path) -> None:
    """A run folder whose saved weights hold NaN (e.g. written by an older gitllm) is neither merged nor loaded."""
    run = train(tiny_config(tmp_path, max_steps=1)).output_dir
    weights = run / "final" / "trainable.safetensors"
    state = load_file(weights)
    name = next(iter(state))
    state[name][0] = float("inf")
    save_file(state, str(weights))
    with pytest.raises(NonFiniteError, match=f"1 of {len(state)} tensors hold NaN or inf \\({name}\\)"):
        merge_run(run, tmp_path / "merged")
    assert not (tmp_path / "merged").exists()
    with pytest.raises(NonFiniteError, match="diverged"):
        load_model(run)
