"""The `git_mean` projection: one image token (the mean of all), through the model, the mask and generation."""

from __future__ import annotations

import torch

from gitllm.model.projection import build_projection
from tiny_models import random_batch, tiny_model


def test_git_mean_is_layernorm_of_the_linear_mean() -> None:
    torch.manual_seed(0)
    projection = build_projection("git_mean", 6, 8)
    features = torch.randn(3, 5, 6)
    linear, _, norm = projection
    expected = norm(linear(features.mean(dim=1, keepdim=True)))
    torch.testing.assert_close(projection(features), expected)
    assert projection(features).shape == (3, 1, 8)


def test_model_with_git_mean_sees_one_image_token() -> None:
    model = tiny_model(projection="git_mean")
    batch = random_batch()
    out = model(**batch, labels=batch["input_ids"])
    assert out.image_token_count == 1 and torch.isfinite(out.loss)
    assert out.logits.shape[:2] == batch["input_ids"].shape
    new = model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert new.shape == (2, 3)


def test_git_mean_round_trips_through_save(tmp_path) -> None:  # noqa: ANN001
    from gitllm import GitLLMForCausalLM

    model = tiny_model(projection="git_mean")
    model.save_pretrained(tmp_path)
    loaded = GitLLMForCausalLM.from_pretrained(tmp_path).eval()
    batch = random_batch()
    torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits)


def test_per_token_drops_only_the_pooling() -> None:
    from gitllm.model.projection import per_token

    pooled, plain = build_projection("git_mean", 6, 8), build_projection("git", 6, 8)
    features = torch.randn(2, 5, 6)
    assert per_token(pooled)(features).shape == (2, 5, 8)
    torch.testing.assert_close(per_token(pooled)(features).mean(1, keepdim=True).shape, pooled(features).shape)
    assert per_token(plain) is plain


def test_visual_words_of_a_pooling_model_has_a_word_per_patch() -> None:
    from PIL import Image

    from gitllm.play import visual_words
    from tiny_models import IMAGE, tiny_processor

    model = tiny_model(projection="git_mean")
    result = visual_words(model, tiny_processor(), Image.new("RGB", (IMAGE, IMAGE), (200, 30, 30)), sanity_tokens=0)
    assert len(result.words) == result.grid[0] * result.grid[1] > 1
