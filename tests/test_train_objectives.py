"""The visual-word objective: its loss, which rows it uses, and what it trains inside `gitllm train`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gitllm.train import load_config, train
from gitllm.train.objectives import VisualWordObjective, visual_word_loss
from test_train_support import tiny_config
from tiny_models import tiny_model, tiny_processor


def test_loss_rewards_the_target_word() -> None:
    torch.manual_seed(0)
    words = torch.randn(50, 16)
    targets = torch.tensor([7, 3])
    like_target = (3.0 * words[targets]).unsqueeze(1)  # (2, 1, 16): each row's token is its word, longer
    unlike = words[[20, 30]].unsqueeze(1)
    assert visual_word_loss(like_target, words, targets, 0.1) < 0.1 < visual_word_loss(unlike, words, targets, 0.1)
    # log-mean-exp pooling: one token that looks like the word among others is enough to lower the loss
    mixed = torch.cat([unlike, like_target], dim=1)
    assert visual_word_loss(mixed, words, targets, 0.1) < visual_word_loss(unlike, words, targets, 0.1) - 5


def test_objective_scores_content_answers_of_a_training_forward() -> None:
    model, tokenizer = tiny_model(), tiny_processor().tokenizer
    objective = VisualWordObjective(model, tokenizer, 0.1, skip_answers=["w10"])
    skipped, kept = tokenizer.convert_tokens_to_ids(["w10", "w11"])
    labels = torch.full((3, 5), -100)
    labels[0, 2:4] = torch.tensor([skipped, 2])  # answer "w10": skipped
    labels[1, 3:5] = torch.tensor([kept, 2])
    # row 2 has no answer at all
    features = torch.randn(3, 17, model.config.vision_config.hidden_size)
    model.eval()
    model.visual_projection(features)
    assert objective.loss(labels) is None  # eval forwards are not scored
    model.train()
    tokens = model.visual_projection(features)
    words = model.language_model.get_input_embeddings().weight
    expected = visual_word_loss(tokens[[1]], words, torch.tensor([kept]), 0.1)
    torch.testing.assert_close(objective.loss(labels), expected)
    assert objective.loss(labels) is None  # each forward is scored once


def test_padded_frames_take_no_part_and_get_no_gradient() -> None:
    """A row of 2 real + 2 padded frames scores as the same row alone with its 2 frames; the padded frames'
    tokens (zero here, as padding projects to a constant) get a zero gradient, not NaN."""
    torch.manual_seed(0)
    words, targets = torch.randn(50, 16), torch.tensor([7, 3])
    tokens = torch.randn(2, 4, 16)
    tokens[1, 2:] = 0.0
    tokens.requires_grad_(True)
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    loss = visual_word_loss(tokens, words, targets, 0.1, mask)
    alone = [visual_word_loss(tokens[[0]], words, targets[[0]], 0.1),
             visual_word_loss(tokens[[1], :2], words, targets[[1]], 0.1)]
    torch.testing.assert_close(loss, sum(alone) / 2)
    loss.backward()
    assert torch.isfinite(tokens.grad).all() and tokens.grad[1, 2:].abs().sum() == 0
    assert tokens.grad[1, :2].abs().sum() > 0


def test_visual_words_train_on_rows_of_one_and_of_four_frames(tmp_path: Path) -> None:
    """Single-frame and 4-frame rows in one batch (padded frames): the objective's loss stays finite."""
    config = tiny_config(tmp_path, max_steps=3, batch_size=8)
    config["model"]["num_image_with_embedding"] = 4
    config["visual_words"] = {"weight": 1.0}
    config["data"] = {"train": ["shapesvideo:train", "shapesvideo-frames:train"], "shuffle": True,
                      "val": ["shapesvideo:val"], "max_train_samples": 48, "max_val_samples": 4}
    train(config)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    word_losses = [r["visual_word_loss"] for r in rows if "visual_word_loss" in r]
    assert len(word_losses) == 3 and all(0 < w < 100 for w in word_losses)


def test_train_reports_the_lm_loss_and_trains_only_the_projection_with_it(tmp_path: Path) -> None:
    """One step with and without the objective: same logged loss (the LM loss), same LoRA update (the
    objective does not reach the LLM), a different projection update. No clipping: a global gradient norm
    would couple the groups."""
    runs = {}
    for weight in (0.0, 1.0):
        out = tmp_path / f"w{weight}"
        train(tiny_config(tmp_path, max_steps=1, lora={"dropout": 0.0}, output_dir=str(out),
                          optim={"lr": 1e-2, "scheduler": "constant", "max_grad_norm": 0.0},
                          visual_words={"weight": weight, "skip_answers": []}))
        logs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        runs[weight] = (next(r for r in logs if "loss" in r), load_file(out / "final" / "trainable.safetensors"))
    (plain_log, plain), (words_log, words) = runs[0.0], runs[1.0]
    assert words_log["loss"] == pytest.approx(plain_log["loss"], abs=1e-6)
    assert words_log["visual_word_loss"] > 0 and "visual_word_loss" not in plain_log
    lora = [k for k in plain if "lora_" in k]
    projection = [k for k in plain if "visual_projection" in k]
    assert lora and projection
    for key in lora:
        torch.testing.assert_close(words[key], plain[key])
    assert any(not torch.equal(words[k], plain[k]) for k in projection)


@pytest.mark.parametrize("override, message", [
    ("visual_words.weight=-1", "visual_words.weight"),
    ("visual_words.weight=.nan", "visual_words.weight"),
    ("visual_words.temperature=0", "visual_words.temperature"),
])
def test_bad_visual_word_settings(tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(tiny_config(tmp_path), [override])


def test_visual_words_need_the_projection_trained(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="add 'proj' to groups"):
        load_config(tiny_config(tmp_path, groups=["lora"]), ["visual_words.weight=1"])
