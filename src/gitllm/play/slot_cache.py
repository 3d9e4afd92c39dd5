"""`SlotCache`: a KV cache whose rows (sequences) join and leave between decode steps (continuous batching).

Every row is right-aligned: row r holds `[stale or padding][its real positions]` and all rows end at the
same cache length S, so one decode step appends one position to every row. Keys/values are views of
buffers (rows x heads x capacity x dim) with spare rows and positions: a row joins by copying its own
positions in (older rows shift right only when it is longer than S), leaves by moving the last row into
its place, and a prefix no row needs any more is trimmed off. What a row does not own is never attended
(the caller's padding mask), so stale values there are harmless (but finite: buffers start at zero).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import DynamicCache, PretrainedConfig
from transformers.cache_utils import DynamicLayer

MARGIN = 256  # spare positions when a buffer is (re)allocated


class SlotLayer(DynamicLayer):
    """One attention layer of a SlotCache; `keys`/`values` (rows, H, S, D) are views of `buffers`."""

    def __init__(self, max_rows: int) -> None:
        super().__init__()
        self.max_rows, self.rows, self.length = max_rows, 0, 0
        self.buffers: tuple[torch.Tensor, torch.Tensor] | None = None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Append (rows, H, S_new, D) to every row; returns all cached keys and values (views)."""
        # Contract: a decode step feeds exactly the rows the cache holds.
        assert key_states.shape[0] == self.rows, (key_states.shape, self.rows)
        end = self.length + key_states.shape[-2]
        self._reserve(key_states, end)
        for buffer, new in zip(self.buffers, (key_states, value_states)):
            buffer[: self.rows, :, self.length : end].copy_(new)
        self.length = end
        return self._refresh()

    def insert(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Add rows (b, H, L, D), right-aligned with the others (whose positions shift right when L > S)."""
        count, length = keys.shape[0], keys.shape[-2]
        assert self.rows + count <= self.max_rows, (self.rows, count, self.max_rows)
        end = max(self.length, length)
        self._reserve(keys, end)
        if length > self.length and self.rows:
            shift = length - self.length
            for buffer in self.buffers:
                buffer[: self.rows, :, shift:end] = buffer[: self.rows, :, : self.length].clone()
        for buffer, new in zip(self.buffers, (keys, values)):
            buffer[self.rows : self.rows + count, :, end - length : end].copy_(new)
        self.rows, self.length = self.rows + count, end
        self._refresh()

    def remove(self, row: int) -> None:
        """Drop `row`; the last row moves into its place (callers renumber the same way)."""
        last = self.rows - 1
        if row != last:
            for buffer in self.buffers:
                buffer[row, :, : self.length] = buffer[last, :, : self.length]
        self.rows = last
        if not self.rows:
            self.length = 0
        self._refresh()

    def trim(self, count: int) -> None:
        """Drop the first `count` positions of every row (no row may own them)."""
        if count <= 0:
            return
        for buffer in self.buffers:
            buffer[: self.rows, :, : self.length - count] = buffer[: self.rows, :, count : self.length].clone()
        self.length -= count
        self._refresh()

    def _reserve(self, like: torch.Tensor, end: int) -> None:
        """Buffers with room for `end` positions (allocated on first use, grown by half plus MARGIN)."""
        if self.buffers is None:
            self.lazy_initialization(like, like)
        elif end <= self.buffers[0].shape[-2]:
            return
        capacity = end + max(MARGIN, end // 2)
        heads, dim = like.shape[1], like.shape[-1]
        grown = tuple(like.new_zeros(self.max_rows, heads, capacity, dim) for _ in range(2))
        if self.buffers is not None:
            for old, new in zip(self.buffers, grown):
                new[: self.rows, :, : self.length] = old[: self.rows, :, : self.length]
        self.buffers = grown

    def _refresh(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.buffers is not None:
            self.keys, self.values = (b[: self.rows, :, : self.length] for b in self.buffers)
        return self.keys, self.values


class SlotCache(DynamicCache):
    """A DynamicCache of SlotLayers (full-attention layers only; see `supports`)."""

    def __init__(self, config: PretrainedConfig, max_rows: int) -> None:
        # Contract: `supports(config)`, so the config lists every layer and each is plain full attention.
        super().__init__(config=config)
        self.layers = [SlotLayer(max_rows) for _ in self.layers]

    @staticmethod
    def supports(config: PretrainedConfig) -> bool:
        """Whether every layer of this LM caches plain full attention (sliding windows keep their own
        bounded layers, which rows cannot join)."""
        probe = DynamicCache(config=config)
        return bool(probe.layers) and all(type(layer) is DynamicLayer for layer in probe.layers)

    @property
    def rows(self) -> int:
        return self.layers[0].rows

    @property
    def length(self) -> int:
        return self.layers[0].length

    def insert(self, other: DynamicCache) -> None:
        """Add every row of `other` (a prefilled cache of the same LM) after the current rows."""
        for layer, new in zip(self.layers, other.layers, strict=True):
            layer.insert(new.keys, new.values)

    def remove(self, rows: Sequence[int]) -> None:
        """Drop `rows`, highest first, each replaced by the then-last row (the caller mirrors this order)."""
        for row in sorted(rows, reverse=True):
            for layer in self.layers:
                layer.remove(row)

    def trim(self, count: int) -> None:
        for layer in self.layers:
            layer.trim(count)
