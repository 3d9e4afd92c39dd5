"""Training configs: YAML + dotted overrides, and bad configs failing before any heavy work, naming the key."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from gitllm.cli import main
from gitllm.train import TrainConfig, load_config
from gitllm.train.cli import register
from gitllm.train.recipes import RECIPES_DIR, recipe_names, recipe_path


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


def test_shipped_recipes_load_by_name() -> None:
    """Every shipped training recipe (all but the accelerate launcher files) loads by name, with or without
    `.yaml` (paper ones name hub ids); relative `base:` files resolve inside the package."""
    names = recipe_names(training_only=True)
    assert len(names) >= 14 and "exp1-modules/offline/proj+lora" in names and "demo/easyvqa" in names
    assert not any(name.startswith("accelerate/") for name in names)
    for name in names:
        load_config(name)
    config = load_config("exp1-modules/offline/proj+lora.yaml")
    assert config.groups == ["proj", "lora"] and config.model.image_size == 98  # from ../../offline-base.yaml
    assert "accelerate/ddp-8gpu" in recipe_names() and "accelerate/deepspeed/zero1.json" in recipe_names()


def test_user_file_wins_over_a_shipped_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path / "exp1-modules" / "offline" / "proj+lora.yaml"
    own.parent.mkdir(parents=True)
    own.write_text("groups: [proj]\n")
    monkeypatch.chdir(tmp_path)
    assert load_config("exp1-modules/offline/proj+lora.yaml").groups == ["proj"]
    assert recipe_path("exp1-modules/offline/proj+lora") == RECIPES_DIR / "exp1-modules/offline/proj+lora.yaml"


@pytest.mark.parametrize("name", ["exp1-modules/offline/proj+lorra", "../train/recipes.py", "/no/such/file.yaml", ""])
def test_unknown_recipe_names_its_fix(name: str) -> None:
    with pytest.raises(ValueError, match="gitllm recipes list") as err:
        recipe_path(name)
    if "lorra" in name:
        assert "close matches: exp1-modules/offline/proj+lora" in str(err.value)


def test_recipes_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recipes", "list"]) == 0
    assert capsys.readouterr().out.split() == recipe_names()
    assert main(["recipes", "show", "demo/easyvqa"]) == 0
    assert capsys.readouterr().out == (RECIPES_DIR / "demo" / "easyvqa.yaml").read_text()
    assert main(["recipes", "path", "accelerate/ddp-8gpu"]) == 0
    assert Path(capsys.readouterr().out.strip()) == (RECIPES_DIR / "accelerate" / "ddp-8gpu.yaml").resolve()
