"""`match_word_scale`: image tokens start at the scale of the LLM's word embeddings."""

from __future__ import annotations

import pytest
import torch

from tiny_models import random_batch, tiny_model


@pytest.mark.parametrize("projection", ["git", "git_mean", "git_cls"])
def test_image_tokens_get_the_norm_of_words(projection: str) -> None:
    model = tiny_model(projection=projection)
    words = model.get_input_embeddings().weight
    pixels = random_batch()["pixel_values"]
    with torch.no_grad():
        before = model.image_embeddings(pixels).norm(dim=-1).mean()
        model.match_word_scale()
        after = model.image_embeddings(pixels).norm(dim=-1).mean()
    assert torch.allclose(model.visual_projection[-1].weight, words.std().expand(words.shape[1]))
    ratio = float(after / words.norm(dim=-1).mean())
    assert 0.8 < ratio < 1.25 and float(before / after) == pytest.approx(1 / float(words.std()), rel=1e-4)


def test_word_scale_needs_a_final_layernorm() -> None:
    with pytest.raises(ValueError, match="ending in a LayerNorm"):
        tiny_model(projection="mlp2x_gelu").match_word_scale()


@pytest.mark.parametrize("family", ["gemma", "gemma2", "gemma3_text"])
def test_word_scale_includes_the_embedding_modules_own_scale(family: str) -> None:
    """Gemma multiplies word embeddings by sqrt(hidden) inside its embedding module: image tokens must match the
    scaled words the decoder sees, not the raw weight."""
    model = tiny_model(family)
    embed = model.get_input_embeddings()
    hidden = model.config.text_config.hidden_size
    model.match_word_scale()
    gain = model.visual_projection[-1].weight
    expected = float(embed.weight.std()) * hidden**0.5
    assert float(gain.mean()) == pytest.approx(expected, rel=1e-4)
    words = embed(torch.arange(embed.weight.shape[0]))
    pixels = random_batch()["pixel_values"]
    with torch.no_grad():
        ratio = float(model.image_embeddings(pixels).norm(dim=-1).mean() / words.norm(dim=-1).mean())
    assert 0.8 < ratio < 1.25
