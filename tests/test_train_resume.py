"""Resume: a run stopped mid-training and resumed ends with the weights of an uninterrupted run; merging a
run gives a plain model that loads without PEFT and answers as the trained model does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from gitllm import GitLLMForCausalLM
from gitllm.train import load_config, merge_run, train
from gitllm.train.build import build_model
from gitllm.train.groups import apply_groups
from gitllm.train.state import load_trainable
from test_train_support import tiny_config
from tiny_models import random_batch


class Crash(RuntimeError):
    pass


class CrashAt(TrainerCallback):
    """Raises after optimizer step `step` (as a killed job would stop)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003
        if state.global_step == self.step:
            raise Crash(f"stopped at step {self.step}")


@pytest.mark.parametrize("groups", [["proj", "lora"], ["proj", "vit"]], ids="+".join)
def test_resume_matches_uninterrupted_run(tmp_path: Path, groups: list[str]) -> None:
    """Crosses an epoch boundary (5 steps per epoch), with LoRA dropout on, a warmup+linear schedule."""
    common = dict(groups=groups, max_steps=7, save_steps=2, optim={"lr": 1e-2, "scheduler": "linear",
                  "warmup_ratio": 0.2}, lora={"dropout": 0.1})
    train(tiny_config(tmp_path, output_dir=str(tmp_path / "straight"), **common))
    config = tiny_config(tmp_path, output_dir=str(tmp_path / "broken"), **common)
    with pytest.raises(Crash):
        train(config, callbacks=[CrashAt(5)])
    assert (tmp_path / "broken" / "checkpoint-4").is_dir() and not (tmp_path / "broken" / "final").exists()
    result = train(config)  # resume="auto" picks checkpoint-4
    assert result.steps == 7
    straight = load_file(tmp_path / "straight" / "final" / "trainable.safetensors")
    resumed = load_file(tmp_path / "broken" / "final" / "trainable.safetensors")
    assert straight.keys() == resumed.keys()
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], atol=1e-6, rtol=1e-5, msg=name)
    steps = [json.loads(line)["step"] for line in (tmp_path / "broken" / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == list(range(1, 8))  # each step logged once despite the crash


def test_resume_always_needs_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="resume"):
        train(tiny_config(tmp_path, resume="always", max_steps=1))


def test_merge_loads_without_peft(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(tiny_config(tmp_path, groups=["proj", "lora", "head"], max_steps=3))
    assert (run / "final" / "adapter" / "adapter_config.json").is_file()
    adapter = json.loads((run / "final" / "adapter" / "adapter_config.json").read_text())
    assert adapter["target_modules"].startswith("(?:language_model")
    merged = GitLLMForCausalLM.from_pretrained(merge_run(run, tmp_path / "merged")).eval()
    assert not any("lora" in n for n, _ in merged.named_parameters())
    assert (tmp_path / "merged" / "processor_config.json").is_file()
    config = load_config(run / "train_config.yaml")
    trained, _ = build_model(config)
    trained = apply_groups(trained, config.groups, config.lora, config.vit_lora)
    load_trainable(trained, run / "final")
    batch = random_batch()
    with torch.no_grad():
        expected = trained.eval()(**batch).logits
        torch.testing.assert_close(merged(**batch).logits, expected, atol=1e-5, rtol=1e-4)


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A run stopped after step 5 of 6, holding checkpoint-2 and checkpoint-4 (copy it before changing it)."""
    root = tmp_path_factory.mktemp("stopped")
    config = tiny_config(root, max_steps=6, save_steps=2, save_total_limit=None)
    with pytest.raises(Crash):
        train(config, callbacks=[CrashAt(5)])
    return Path(config["output_dir"]), config


def _copy(stopped_run: tuple[Path, dict], tmp_path: Path, **overrides: object) -> tuple[Path, dict]:
    import shutil

    run, config = stopped_run
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run", config | {"output_dir": str(tmp_path / "run")} | overrides


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {
    "weights cut short": lambda ck: _truncate(ck / "trainable.safetensors"),
    "optimizer cut short": lambda ck: _truncate(ck / "optimizer.pt"),
    "no trainer state": lambda ck: (ck / "trainer_state.json").unlink(),
    "trainer state cut short": lambda ck: _truncate(ck / "trainer_state.json"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_fault_resume_falls_back_from_a_half_written_checkpoint(stopped_run, tmp_path: Path, capsys,
                                                                damage: str) -> None:
    run, config = _copy(stopped_run, tmp_path)
    DAMAGE[damage](run / "checkpoint-4")
    result = train(config)
    err = capsys.readouterr().err
    assert "skipping incomplete checkpoint-4" in err and "resuming from checkpoint-2" in err
    assert result.steps == 6
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == list(range(1, 7))  # steps 3-5 redone from checkpoint-2, each logged once


def test_fault_resume_with_no_complete_checkpoint(stopped_run, tmp_path: Path, capsys) -> None:
    run, config = _copy(stopped_run, tmp_path, max_steps=2)
    for checkpoint in ("checkpoint-2", "checkpoint-4"):
        (run / checkpoint / "trainer_state.json").unlink()
    with pytest.raises(ValueError, match="no complete checkpoint.*checkpoint-4: trainer_state.json is missing"):
        train(config | {"resume": "always"})
    assert train(config).steps == 2
    assert "no complete checkpoint: starting from step 0" in capsys.readouterr().err


@pytest.mark.parametrize("change", [{"lora": {"r": 4}}, {"groups": ["proj"]}], ids=["lora.r", "groups"])
def test_fault_resume_with_a_changed_config_keeps_the_runs_config(stopped_run, tmp_path: Path,
                                                                 change: dict) -> None:
    run, config = _copy(stopped_run, tmp_path, **change)
    before = (run / "train_config.yaml").read_bytes()
    with pytest.raises(ValueError, match="checkpoint-4 does not fit this config"):
        train(config)
    assert (run / "train_config.yaml").read_bytes() == before
