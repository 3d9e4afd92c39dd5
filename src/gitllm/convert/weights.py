"""Read the state dict of a Hugging Face checkpoint folder: safetensors or `pytorch_model.bin`, sharded or not."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

# Contract: the file names `save_pretrained` writes, safetensors first (what transformers itself prefers).
WEIGHT_FILES: tuple[tuple[str, str], ...] = (
    ("model.safetensors", "model.safetensors.index.json"),
    ("pytorch_model.bin", "pytorch_model.bin.index.json"),
)


def _load(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        return load_file(path)
    return torch.load(path, map_location="cpu", weights_only=True)


def read_state_dict(folder: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of the checkpoint in `folder` (CPU). Pickled `.bin` files load with `weights_only=True`, so
    they cannot run code; a folder without weights is a ValueError naming the files looked for."""
    folder = Path(folder)
    for single, index in WEIGHT_FILES:
        if (folder / single).is_file():
            return _load(folder / single)
        if (folder / index).is_file():
            shards = sorted(set(json.loads((folder / index).read_text())["weight_map"].values()))
            state_dict: dict[str, torch.Tensor] = {}
            for shard in shards:
                state_dict.update(_load(folder / shard))
            return state_dict
    names = ", ".join(name for pair in WEIGHT_FILES for name in pair)
    raise ValueError(f"no weights in {folder}: expected one of {names}")
