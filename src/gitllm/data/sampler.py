"""Length grouping: batches of similar length waste less padding, for map-style and streaming datasets."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import TypeVar

from torch.utils.data import Sampler

T = TypeVar("T")


def group_by_length(items: Iterable[T], length: Callable[[T], int], batch_size: int, window_batches: int = 50,
                    seed: int = 0) -> Iterator[T]:
    """Reorders a stream window by window: each window of `batch_size * window_batches` items is sorted by
    `length`, cut into batches, and the batches are yielded in random order. Memory: one window."""
    if batch_size < 1 or window_batches < 1:
        raise ValueError(f"batch_size and window_batches must be >= 1, got {batch_size} and {window_batches}")
    rng, stream = random.Random(seed), iter(items)
    while window := sorted(islice(stream, batch_size * window_batches), key=length):
        batches = [window[i : i + batch_size] for i in range(0, len(window), batch_size)]
        rng.shuffle(batches)
        for batch in batches:
            yield from batch


class LengthGroupedSampler(Sampler[int]):
    """Indices in random order, grouped so consecutive `batch_size` indices have similar `lengths`."""

    def __init__(self, lengths: Sequence[int], batch_size: int, window_batches: int = 50, seed: int = 0) -> None:
        self.lengths, self.batch_size, self.window_batches = list(lengths), batch_size, window_batches
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        seed = self.seed + self.epoch
        order = list(range(len(self.lengths)))
        random.Random(seed).shuffle(order)
        return group_by_length(order, self.lengths.__getitem__, self.batch_size, self.window_batches, seed)
