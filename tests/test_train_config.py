"""Training configs: YAML + dotted overrides, and bad configs failing before any heavy work, naming the key."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from gitllm.train import TrainConfig, load_config
from gitllm.train.cli import register

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_yaml_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("groups: [proj]\noptim:\n  lr: 1e-3\n  group_lr: {proj: 2.0e-3}\nbatch_size: 4\n")
    config = load_config(path, ["optim.lr=5e-4", "data.max_train_samples=10", "lora.target_modules=[q_proj]"])
    assert isinstance(config, TrainConfig)
    assert config.optim.lr == 5e-4 and config.optim.group_lr == {"proj": 2e-3}
    assert config.data.max_train_samples == 10 and config.lora.target_modules == ["q_proj"]
    assert config.batch_size == 4 and config.label == "Proj"


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["bogus=1"], "bogus"),
        (["optim.lrr=1"], "optim.lrr"),
        (["batch_size=four"], "batch_size"),
        (["batch_size=0"], "batch_size"),
        (["gradient_checkpointing=maybe"], "gradient_checkpointing"),
        (["precision=int8"], "precision"),
        (["groups=[proj,adapter]"], "groups"),
        (["groups=[]"], "groups"),
        (["groups=[llm,lora]"], "groups"),
        (["groups=[vit,vit_lora]"], "groups"),
        (["optim.group_lr={vit: 1e-4}"], "optim.group_lr.vit"),
        (["data.train=[/no/such/file.jsonl]"], "data.train"),
        (["data.template=alpaca"], "data.template"),
        (["data.format=tfrecord"], "data.format"),
        (["model.projection=qformer"], "model.projection"),
        (["model.init_from=/no/such/folder"], "model.init_from"),
        (["groups=[proj,vit]", "feature_cache=on"], "feature_cache"),
        (["data.train"], "data.train"),
    ],
)
def test_bad_config_names_the_key(overrides: list[str], key: str) -> None:
    with pytest.raises(ValueError) as err:
        load_config({}, overrides)
    assert repr(key) in str(err.value) or key in str(err.value), str(err.value)


def test_missing_config_file() -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_config("/no/such/config.yaml")


def test_cli_parses_overrides() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "c.yaml", "optim.lr=1e-4", "groups=[proj]", "--merge"])
    assert args.overrides == ["optim.lr=1e-4", "groups=[proj]"] and args.merge
    args = parser.parse_args(["plot", "a", "b", "--out", "x.png"])
    assert args.run_dirs == ["a", "b"]


def test_shipped_recipes_load() -> None:
    """Every recipe under configs/ (but accelerate files) is a valid config (paper ones name hub ids)."""
    recipes = [p for p in CONFIGS.rglob("*.yaml") if "accelerate" not in p.parts]
    assert len(recipes) >= 14
    for recipe in recipes:
        load_config(recipe)
