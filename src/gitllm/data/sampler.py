"""Length-grouped sampling: batches of similar length waste less padding."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class LengthGroupedSampler(Sampler[int]):
    """Shuffles indices, then sorts each window of `batch_size * window_batches` by length (longest first).

    Consecutive `batch_size` indices then have similar `lengths` while the epoch order stays random.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, window_batches: int = 50, seed: int = 0) -> None:
        assert batch_size > 0 and window_batches > 0
        self.lengths, self.window = list(lengths), batch_size * window_batches
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        for start in range(0, len(order), self.window):
            yield from sorted(order[start : start + self.window], key=lambda i: -self.lengths[i])
