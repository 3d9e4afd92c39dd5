"""A run folder -> a plain GitLLM folder: base weights + trained weights, LoRA merged, no PEFT needed to load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitllm.model.finite import check_finite
from gitllm.train.build import build_model
from gitllm.train.config import CONFIG_FILE_NAME, load_config
from gitllm.train.groups import apply_groups, unwrap
from gitllm.train.state import DIVERGED, TRAINABLE_FILE, load_trainable


def load_run(run_dir: str | Path, checkpoint: str | None = None) -> tuple[Any, Any]:
    """(model, processor) of a run: its starting model with the trained weights (`final/` or `checkpoint`)
    loaded and LoRA merged into the base weights, in memory."""
    run_dir = Path(run_dir)
    config_file = run_dir / CONFIG_FILE_NAME
    if not config_file.is_file():
        raise ValueError(f"{run_dir} is not a gitllm run folder (no {CONFIG_FILE_NAME})")
    config = load_config(config_file)
    weights = run_dir / (checkpoint or "final")
    if not weights.is_dir():
        raise ValueError(f"{weights} does not exist (the run has not finished; pass a checkpoint-N folder)")
    model, processor = build_model(config)
    model = apply_groups(model, config.groups, config.lora, config.vit_lora)
    load_trainable(model, weights)
    return (model.merge_and_unload() if model is not unwrap(model) else model), processor


def merge_run(run_dir: str | Path, out: str | Path, checkpoint: str | None = None, overwrite: bool = False) -> Path:
    """`load_run`, then save model + processor to `out`, loadable by `GitLLMForCausalLM.from_pretrained`.

    `out` is never a run folder or a folder of trained weights (its files would be mixed with the model's);
    a non-empty `out` is a ValueError unless `overwrite`. Both are checked before any loading."""
    check_merge_target(Path(out), overwrite)
    plain, processor = load_run(run_dir, checkpoint)
    check_finite(plain.state_dict(), f"refusing to merge {run_dir} into {out}", DIVERGED)
    plain.requires_grad_(True)
    plain.save_pretrained(out)
    processor.save_pretrained(out)
    return Path(out)


def check_merge_target(out: Path, overwrite: bool) -> None:
    """Raise a ValueError when `out` holds a run or its weights, or other files and not `overwrite`."""
    if (out / CONFIG_FILE_NAME).exists() or (out / TRAINABLE_FILE).exists():
        raise ValueError(f"{out} holds a training run or its weights; merge into another folder, e.g. {out}/merged")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; merge into a folder")
    if not overwrite and out.is_dir() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty; pick a new folder or pass --overwrite to write over its files")
