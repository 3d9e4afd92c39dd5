"""Training on frames: the order task's source through `gitllm train`, with and without the feature cache,
temporal embeddings trained, saved and loaded back."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from gitllm.play.loader import load_model
from gitllm.train import train
from test_train_support import tiny_config


def _losses(run: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


def test_training_on_frames_with_and_without_the_cache(tmp_path: Path) -> None:
    def run(cache: str) -> Path:
        config = tiny_config(tmp_path, feature_cache=cache, output_dir=str(tmp_path / cache), max_steps=3)
        config["model"]["num_image_with_embedding"] = 4
        config["data"] = {"train": ["shapesvideo:train"], "val": ["shapesvideo:val"], "max_train_samples": 24,
                          "max_val_samples": 4}
        train(config)
        return tmp_path / cache

    on, off = run("on"), run("off")
    torch.testing.assert_close(torch.tensor(_losses(on)), torch.tensor(_losses(off)), atol=2e-3, rtol=0)
    saved = load_file(str(on / "final" / "trainable.safetensors"))
    embeddings = [saved[f"img_temporal_embedding.{k}"] for k in range(4)]
    assert all(e.shape == (1, 1, 24) and e.abs().sum() > 0 for e in embeddings)  # trained away from zero
    model, _ = load_model(on)
    assert model.config.num_image_with_embedding == 4
    assert torch.equal(model.img_temporal_embedding[2].detach(), embeddings[2])
