"""A GIT-LLM on a (tiny) Gemma 3 LLM trains and answers: scaled word embeddings, sliding-window and full
layers under the GIT mask, a BOS prefix before the image."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from gitllm.play import ask, load_model
from gitllm.train import train
from test_train_support import COLOURS, tiny_config, tiny_table
from tiny_models import tiny_model, tiny_processor

BOS = 1  # the tiny tokenizer's <s>, which it also puts before every text


def test_tiny_gemma3_git_llm_trains_and_answers(tmp_path: Path) -> None:
    model = tiny_model("gemma3_text", prefix_token_ids=[BOS])
    assert type(model.language_model).__name__ == "Gemma3ForCausalLM"
    model.match_word_scale()
    scaled = model.get_input_embeddings()(torch.arange(8))
    assert torch.allclose(scaled, model.get_input_embeddings().weight[:8] * 32**0.5)  # sqrt(hidden) inside
    folder = tmp_path / "tiny-gemma3"
    model.save_pretrained(folder)
    tiny_processor().save_pretrained(folder)
    config = tiny_config(tmp_path, model={"init_from": str(folder)}, groups=["proj", "llm"], max_steps=16,
                         batch_size=8, optim={"lr": 1e-2, "scheduler": "constant"})
    train(config)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
              if "loss" in json.loads(line)]
    assert losses[-1] < 0.5 * losses[0], losses
    trained, processor = load_model(tmp_path / "run")
    assert trained.config.prefix_token_ids == [BOS]
    rows = [json.loads(line) for line in tiny_table(tmp_path).read_text().splitlines()][:6]
    answers = ask(trained, processor, [str(tmp_path / row["image"]) for row in rows], [row["question"] for row in rows],
                  max_new_tokens=3)
    print(f"losses {losses[0]:.3f} -> {losses[-1]:.3f}; answers {answers}")
    assert sum(answer == row["answer"] for answer, row in zip(answers, rows)) >= 4 and set(answers) <= set(COLOURS)
