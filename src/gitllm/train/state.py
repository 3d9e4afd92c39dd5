"""What a run saves: the trainable weights (all groups, exact reload), the LoRA adapter in PEFT format,
the processor and the config; and reloading them onto a freshly built model."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from gitllm.model.finite import check_finite
from gitllm.train.groups import unwrap, trainable_by_group

TRAINABLE_FILE = "trainable.safetensors"
DIVERGED = "the run diverged: retrain with a lower optim.lr (or fp32 / bf16 instead of fp16), and check the data"


def trainable_state(model: nn.Module, groups: list[str]) -> dict:
    """{GitLLM parameter name: tensor} of every trainable parameter (LoRA included)."""
    return {n: p.detach().contiguous() for pairs in trainable_by_group(model, groups).values() for n, p in pairs}


def save_trainable(model: nn.Module, groups: list[str], folder: Path) -> None:
    """Write every trainable weight to `folder`; a NaN or inf among them is a NonFiniteError, nothing written."""
    state = trainable_state(model, groups)
    check_finite(state, f"refusing to save {folder}", DIVERGED)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(state, str(folder / TRAINABLE_FILE), metadata={"format": "pt"})


def check_fits(model: nn.Module, groups: list[str], folder: Path) -> None:
    """ValueError unless the weights saved in `folder` are exactly `model`'s trainable ones, names and shapes
    (read from the file header only)."""
    expected = {name: tuple(p.shape) for pairs in trainable_by_group(model, groups).values() for name, p in pairs}
    with safe_open(str(Path(folder) / TRAINABLE_FILE), framework="pt") as saved_file:
        saved = {name: tuple(saved_file.get_slice(name).get_shape()) for name in saved_file.keys()}
    problems = [f"{label} {names[:3]}" for label, names in (
        ("missing", sorted(set(expected) - set(saved))),
        ("not trained by this config", sorted(set(saved) - set(expected))),
        ("of another shape", sorted(n for n in set(saved) & set(expected) if saved[n] != expected[n])),
    ) if names]
    if problems:
        raise ValueError(
            f"checkpoint {folder} does not fit this config (weights {'; '.join(problems)}): it was trained with "
            "the run's train_config.yaml (groups, lora.r, ...); resume with that, or start anew with "
            "resume: never or another output_dir"
        )


def load_trainable(model: nn.Module, folder: Path) -> None:
    """Copy saved trainable weights into `model` (a GitLLM or its PEFT wrapper); names must all exist and
    values be finite."""
    state = load_file(str(Path(folder) / TRAINABLE_FILE))
    check_finite(state, f"the trained weights in {folder}", DIVERGED)
    params = dict(unwrap(model).named_parameters())
    missing = sorted(set(state) - set(params))
    if missing:
        raise ValueError(f"{folder}: saved weights {missing[:3]} do not exist in this model (different groups?)")
    with torch.no_grad():  # in-place under autograd's version counter (`DecodeHead` sees the change)
        for name, tensor in state.items():
            params[name].copy_(tensor)
