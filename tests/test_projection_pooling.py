"""Pooling projections (`git_mean`, `git_cls`): one image token, through the model, the mask and generation."""

from __future__ import annotations

import pytest
import torch

from gitllm import GitLLMConfig
from gitllm.model.projection import build_projection, per_token
from tiny_models import random_batch, text_config, tiny_model, vision_config

POOLING = ["git_mean", "git_cls"]


def test_git_mean_is_layernorm_of_the_linear_mean() -> None:
    torch.manual_seed(0)
    projection = build_projection("git_mean", 6, 8)
    features = torch.randn(3, 5, 6)
    linear, _, norm = projection
    expected = norm(linear(features.mean(dim=1, keepdim=True)))
    torch.testing.assert_close(projection(features), expected)
    assert projection(features).shape == (3, 1, 8)


def test_git_cls_projects_the_first_token_only() -> None:
    torch.manual_seed(0)
    projection = build_projection("git_cls", 6, 8)
    features = torch.randn(3, 5, 6)
    _, linear, norm = projection
    torch.testing.assert_close(projection(features), norm(linear(features[:, :1])))
    changed = features.clone()
    changed[:, 1:] += 1.0
    assert torch.equal(projection(changed), projection(features))


def test_git_cls_needs_the_cls_token() -> None:
    with pytest.raises(ValueError, match="keep_cls=True"):
        GitLLMConfig(vision_config=vision_config(), text_config=text_config("llama"), projection="git_cls",
                     keep_cls=False)


@pytest.mark.parametrize("projection", POOLING)
def test_model_with_pooling_sees_one_image_token(projection: str) -> None:
    model = tiny_model(projection=projection)
    batch = random_batch()
    out = model(**batch, labels=batch["input_ids"])
    assert out.image_token_count == 1 and torch.isfinite(out.loss)
    assert out.logits.shape[:2] == batch["input_ids"].shape
    new = model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert new.shape == (2, 3)


@pytest.mark.parametrize("projection", POOLING)
def test_pooling_round_trips_through_save(projection: str, tmp_path) -> None:  # noqa: ANN001
    from gitllm import GitLLMForCausalLM

    model = tiny_model(projection=projection)
    model.save_pretrained(tmp_path)
    loaded = GitLLMForCausalLM.from_pretrained(tmp_path).eval()
    batch = random_batch()
    torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits)


def test_per_token_drops_only_the_pooling() -> None:
    features = torch.randn(2, 5, 6)
    for name in POOLING:
        pooled = build_projection(name, 6, 8)
        assert per_token(pooled)(features).shape == (2, 5, 8)
    plain = build_projection("git", 6, 8)
    assert per_token(plain) is plain


@pytest.mark.parametrize("projection", POOLING)
def test_visual_words_of_a_pooling_model_has_a_word_per_patch(projection: str) -> None:
    from PIL import Image

    from gitllm.play import visual_words
    from tiny_models import IMAGE, tiny_processor

    model = tiny_model(projection=projection)
    result = visual_words(model, tiny_processor(), Image.new("RGB", (IMAGE, IMAGE), (200, 30, 30)), sanity_tokens=0)
    assert len(result.words) == result.grid[0] * result.grid[1] > 1
