"""Engine options on the tiny model: gradient accumulation equals a bigger batch; bf16 autocast, gradient
checkpointing, streaming data and per-group learning rates run; the run folder holds what it promises."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from gitllm.train import train
from test_train_support import tiny_config, tiny_table
from tiny_models import tiny_model, tiny_processor


def _losses(run: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


def test_accumulation_equals_bigger_batch(tmp_path: Path) -> None:
    """Every answer has the same token count, so 2 x 2 accumulated equals one batch of 4."""
    big = train(tiny_config(tmp_path, batch_size=4, max_steps=3, lora={"dropout": 0.0},
                            output_dir=str(tmp_path / "big")))
    accumulated = train(tiny_config(tmp_path, batch_size=2, grad_accum=2, max_steps=3, lora={"dropout": 0.0},
                                    output_dir=str(tmp_path / "acc")))
    torch.testing.assert_close(torch.tensor(_losses(tmp_path / "acc")), torch.tensor(_losses(tmp_path / "big")),
                               atol=1e-5, rtol=1e-5)
    assert abs(big.eval_loss - accumulated.eval_loss) < 1e-5


def test_bf16_checkpointing_group_lr_and_outputs(tmp_path: Path) -> None:
    result = train(tiny_config(tmp_path, precision="bf16", gradient_checkpointing=True, feature_cache="off",
                               groups=["proj", "lora", "vit_lora"], optim={"lr": 1e-2, "group_lr": {"proj": 1e-3}},
                               report_to=["tensorboard"]))
    run = tmp_path / "run"
    assert result.eval_loss is not None and result.steps == 4
    assert {"proj", "lora", "vit_lora"} == set(result.trainable)
    assert (run / "train_config.yaml").is_file() and list(run.rglob("events.out.tfevents*"))
    assert (run / "final" / "adapter" / "adapter_model.safetensors").is_file()
    weights = load_file(run / "final" / "trainable.safetensors")
    assert any(k.startswith("vision_model.") and "lora_" in k for k in weights)


def test_group_lr_reaches_the_optimizer(tmp_path: Path) -> None:
    """Per-group learning rates reach the optimizer: a vanishing lr for the projection leaves it unchanged."""
    train(tiny_config(tmp_path, optim={"lr": 1e-2, "group_lr": {"proj": 1e-30}, "scheduler": "constant"}))
    saved = load_file(tmp_path / "run" / "final" / "trainable.safetensors")
    start = dict(tiny_model().named_parameters())
    proj = [k for k in saved if k.startswith("visual_projection.")]
    assert proj and all(torch.allclose(saved[k], start[k], atol=1e-12) for k in proj)
    assert any("lora_B" in k and saved[k].abs().sum() > 0 for k in saved)  # LoRA did move


def test_temporal_lr_reaches_the_optimizer(tmp_path: Path) -> None:
    """`optim.temporal_lr` gives the frames' temporal embeddings their own learning rate inside group proj: a
    vanishing one leaves them at zero while the rest of the projection trains."""
    config = tiny_config(tmp_path, optim={"lr": 1e-2, "temporal_lr": 1e-30, "scheduler": "constant"})
    config["model"]["num_image_with_embedding"] = 4
    config["data"] = {"train": ["shapesvideo:train"], "val": ["shapesvideo:val"], "max_train_samples": 16,
                      "max_val_samples": 4}
    train(config)
    saved = load_file(tmp_path / "run" / "final" / "trainable.safetensors")
    temporal = [k for k in saved if k.startswith("img_temporal_embedding.")]
    assert len(temporal) == 4 and all(saved[k].abs().max() < 1e-20 for k in temporal)
    start = dict(tiny_model().named_parameters())
    assert any(not torch.allclose(saved[k], start[k]) for k in saved if k.startswith("visual_projection."))


def test_streaming_data(tmp_path: Path) -> None:
    config = tiny_config(tmp_path, max_steps=2)
    table = config["data"]["train"][0]
    config["data"] = {"train": [table], "val": [table], "max_val_samples": 4, "streaming": True}
    result = train(config)
    assert result.steps == 2 and result.eval_loss is not None


def test_cli_train_merge_and_plot(tmp_path: Path) -> None:
    """`gitllm train CONFIG key=value --merge`, then `gitllm plot`."""
    import yaml

    from gitllm import GitLLMForCausalLM
    from gitllm.cli import main

    config_file = tmp_path / "recipe.yaml"
    config_file.write_text(yaml.safe_dump(tiny_config(tmp_path)))
    assert main(["train", str(config_file), "max_steps=2", "groups=[proj,lora]", "--merge"]) == 0
    merged = GitLLMForCausalLM.from_pretrained(tmp_path / "run" / "merged")
    assert not any("lora" in name for name, _ in merged.named_parameters())
    assert main(["plot", str(tmp_path / "run"), "--out", str(tmp_path / "curves.png")]) == 0
    assert (tmp_path / "curves.png").stat().st_size > 10_000


def _plain_trainer_step(tmp_path: Path, batch_size: int, grad_accum: int) -> dict[str, torch.Tensor]:
    """The weights after one SGD step of a plain `transformers.Trainer` over 4 rows whose answers have 1-4
    tokens (so micro-batches hold different numbers of labelled tokens)."""
    from transformers import Trainer, TrainingArguments

    from gitllm.data import Collator, EncodedDataset, Encoder, read

    table = tiny_table(tmp_path, n=4)
    rows = [json.loads(line) for line in table.read_text().splitlines()]
    answers = ["w10", "w11 w12", "w10 w11 w12", "w12 w12 w11 w10"]
    table.write_text("".join(json.dumps(row | {"answer": a}) + "\n" for row, a in zip(rows, answers)))
    processor, model = tiny_processor(), tiny_model()
    encoder = Encoder(processor.tokenizer, processor.image_processor)
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=batch_size, gradient_accumulation_steps=grad_accum,
        max_steps=1, learning_rate=0.5, optim="sgd", lr_scheduler_type="constant", max_grad_norm=0.0,
        save_strategy="no", report_to=[], use_cpu=True, remove_unused_columns=False, disable_tqdm=True, seed=0,
    )
    Trainer(model=model, args=args, train_dataset=EncodedDataset(list(read(str(table))), encoder),
            data_collator=Collator.for_tokenizer(processor.tokenizer)).train()
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_fault_plain_trainer_accumulation_equals_bigger_batch(tmp_path: Path) -> None:
    """`num_items_in_batch` reaches forward: 4 accumulated micro-batches of 1 step like one batch of 4."""
    big = _plain_trainer_step(tmp_path, batch_size=4, grad_accum=1)
    accumulated = _plain_trainer_step(tmp_path, batch_size=1, grad_accum=4)
    start = dict(tiny_model().named_parameters())
    assert any(not torch.equal(big[name], start[name]) for name in big), "the step moved the weights"
    for name in big:
        torch.testing.assert_close(accumulated[name], big[name], atol=1e-6, rtol=1e-5, msg=name)

