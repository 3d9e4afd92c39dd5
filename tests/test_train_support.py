"""Shared builders for the training tests (no tests here): a tiny GIT-LLM folder and a tiny image-QA table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tiny_models import IMAGE, tiny_model, tiny_processor

COLOURS = {"w10": (220, 30, 30), "w11": (30, 200, 40), "w12": (40, 60, 230)}


def tiny_model_dir(root: Path, llm: str = "llama", vision: str = "clip_vision_model") -> Path:
    """A saved tiny random GIT-LLM with its processor (for `model.init_from`)."""
    folder = root / f"tiny-{llm}-{vision}"
    if not folder.is_dir():
        tiny_model(llm, vision).save_pretrained(folder)
        tiny_processor().save_pretrained(folder)
    return folder


def tiny_table(root: Path, n: int = 24, seed: int = 0) -> Path:
    """A jsonl table of n coloured-square images; the answer names the colour (one word + EOS)."""
    rng = np.random.default_rng(seed)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        answer = list(COLOURS)[i % len(COLOURS)]
        pixels = np.clip(np.array(COLOURS[answer]) + rng.integers(-20, 20, (IMAGE, IMAGE, 3)), 0, 255)
        Image.fromarray(pixels.astype(np.uint8)).save(images / f"{i}.png")
        rows.append({"image": f"images/{i}.png", "question": "w5 w6", "answer": answer})
    table = root / "data.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return table


def tiny_config(root: Path, **overrides: Any) -> dict[str, Any]:
    """A training config mapping for the tiny model and table; `overrides` replace top-level keys."""
    config: dict[str, Any] = {
        "model": {"init_from": str(tiny_model_dir(root))},
        "data": {"train": [str(tiny_table(root))], "val_size": 4},
        "groups": ["proj", "lora"],
        "optim": {"lr": 1e-2, "scheduler": "constant"},
        "batch_size": 4,
        "max_steps": 4,
        "logging_steps": 1,
        "output_dir": str(root / "run"),
        "cache_dir": str(root / "features"),
        "report_to": [],
        "seed": 0,
    }
    return config | overrides
