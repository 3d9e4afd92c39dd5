"""`GrowingCache`: HF's DynamicCache, but full-attention layers append new keys/values in place.

DynamicLayer appends with `torch.cat`, which allocates and copies the whole cache at every generated token.
On CPU those fresh allocations (page faults on new memory) were about half of a decode step in bench-small,
for HF's Llava peer as for us. Here keys/values are views of buffers with spare room, so a step copies only
its own token; the buffers grow by half (plus a margin) when full. Sliding-window layers stay as HF builds
them (they are bounded by their window).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache, PretrainedConfig
from transformers.cache_utils import DynamicLayer

MARGIN = 256  # spare positions when a buffer is (re)allocated: a prompt plus this many tokens fit at once


class GrowingLayer(DynamicLayer):
    """A DynamicLayer whose `keys`/`values` (B, H, S, D) are prefixes of buffers (B, H, capacity, D)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.buffers: tuple[torch.Tensor, torch.Tensor] | None = None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Append key/value states (B, H, S_new, D); returns all cached keys and values (views)."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        length = self.get_seq_length()
        end = length + key_states.shape[-2]
        if not self._views_of_buffers() or end > self.buffers[0].shape[-2]:
            self._reallocate(key_states, value_states, end + max(MARGIN, end // 2))
        keys, values = self.buffers
        keys[..., length:end, :].copy_(key_states)
        values[..., length:end, :].copy_(value_states)
        self.keys, self.values = keys[..., :end, :], values[..., :end, :]
        return self.keys, self.values

    def _views_of_buffers(self) -> bool:
        """Whether keys/values are still prefixes of the buffers: `crop` keeps them so; beam reordering,
        batch selection/repetition and offloading replace them with new tensors."""
        if self.buffers is None:
            return False
        return all(
            cached.data_ptr() == buffer.data_ptr() and cached.stride() == buffer.stride()
            and cached.shape[:2] == buffer.shape[:2]
            for cached, buffer in zip((self.keys, self.values), self.buffers)
        )

    def _reallocate(self, key_states: torch.Tensor, value_states: torch.Tensor, capacity: int) -> None:
        """New buffers of `capacity` positions holding the cached prefix."""
        length = self.get_seq_length()
        buffers = []
        for cached, new in ((self.keys, key_states), (self.values, value_states)):
            buffer = new.new_empty(*new.shape[:2], capacity, new.shape[-1])
            if length:
                buffer[..., :length, :].copy_(cached)
            buffers.append(buffer)
        self.buffers = (buffers[0], buffers[1])

    def reset(self) -> None:
        self.buffers = None
        super().reset()


class GrowingCache(DynamicCache):
    """A DynamicCache (same API, same results) whose full-attention layers are GrowingLayers."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config=config)
        # Contract: exact DynamicLayers only; subclasses (sliding window, indexed) keep their own update.
        self.layers = [GrowingLayer() if type(layer) is DynamicLayer else layer for layer in self.layers]
        if self.layer_class_to_replicate is DynamicLayer:
            self.layer_class_to_replicate = GrowingLayer
