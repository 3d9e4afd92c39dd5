"""GrowingCache: the same keys/values as HF's DynamicCache, appended in place."""

from __future__ import annotations

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

from gitllm.model.kv_cache import MARGIN, GrowingCache, GrowingLayer
from tiny_models import text_config


def _states(batch: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 2, length, 8, generator=g), torch.randn(batch, 2, length, 8, generator=g)


def test_growing_cache_equals_dynamic_cache_through_every_operation() -> None:
    config = text_config("llama")
    ours, theirs = GrowingCache(config), DynamicCache(config=config)
    assert all(isinstance(layer, GrowingLayer) for layer in ours.layers)

    def step(batch: int, length: int, seed: int) -> None:
        for layer in range(2):
            states = _states(batch, length, seed + layer)
            a, b = ours.update(*states, layer), theirs.update(*states, layer)
            assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])

    step(2, 5, 0)  # prefill
    buffer = ours.layers[0].buffers[0]
    for seed in range(1, 4):
        step(2, 1, 10 * seed)  # decode steps append in place: no new buffer
    assert ours.layers[0].buffers[0] is buffer and ours.get_seq_length() == theirs.get_seq_length() == 8
    ours.crop(-2), theirs.crop(-2)
    step(2, 1, 70)
    ours.batch_repeat_interleave(3), theirs.batch_repeat_interleave(3)
    step(6, 1, 80)
    beams = torch.tensor([5, 0, 0, 2, 1, 4])
    ours.reorder_cache(beams), theirs.reorder_cache(beams)
    step(6, 1, 90)
    step(6, MARGIN + 20, 100)  # past the spare room: reallocated, prefix kept
    for mine, hf in zip(ours.layers, theirs.layers):
        assert torch.equal(mine.keys, hf.keys) and torch.equal(mine.values, hf.values)


def test_sliding_window_layers_stay_hf_layers() -> None:
    layers = GrowingCache(text_config("mistral")).layers
    assert all(type(layer) is DynamicSlidingWindowLayer for layer in layers)
    assert not any(type(layer) is DynamicLayer for layer in layers)
