"""torch datasets over readers + an Encoder, for the HF Trainer or a plain DataLoader (with `Collator`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from gitllm.data.encode import Encoder
from gitllm.data.readers import read
from gitllm.data.rows import RowPolicy
from gitllm.data.sampler import group_by_length
from gitllm.data.schema import Sample


class EncodedStream(IterableDataset):
    """Streams `read(source, format, **options)` through `encoder`, one pass per `iter()`.

    Bad rows (while reading or encoding) raise BadRowError, or with `policy.skip_bad` are counted in
    `policy` (cumulative over passes) and a summary is printed to stderr after each pass.
    DataLoader workers each take every num_workers-th sample, so rows are encoded once per pass; each worker
    counts (and prints) the bad rows of its own share.
    With `group_batch_size`, rows come grouped by length (see `group_by_length`) for that batch size.
    """

    def __init__(self, source: str, encoder: Encoder, format: str | None = None, policy: RowPolicy | None = None,
                 group_batch_size: int | None = None, **options: Any) -> None:
        self.source, self.encoder, self.format, self.options = source, encoder, format, options
        self.policy = policy if policy is not None else RowPolicy()
        self.group_batch_size = group_batch_size

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        rows = self._rows()
        if self.group_batch_size:
            rows = group_by_length(rows, lambda row: len(row["input_ids"]), self.group_batch_size)
        return rows

    def _rows(self) -> Iterator[dict[str, torch.Tensor]]:
        worker = get_worker_info()
        shard, shards = (worker.id, worker.num_workers) if worker else (0, 1)
        for i, sample in enumerate(read(self.source, self.format, self.policy, **self.options)):
            if i % shards == shard:
                row = self.policy.guard(self.encoder, sample)
                if row is not None:
                    yield row
        self.policy.report()


class EncodedDataset(Dataset):
    """Map-style dataset over samples already listed (e.g. easy-VQA); a bad row raises BadRowError naming it.

    Run `gitllm data check` first, or use EncodedStream with `skip_bad`, for data with bad rows.
    """

    def __init__(self, samples: Sequence[Sample], encoder: Encoder) -> None:
        self.samples, self.encoder = samples, encoder

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.encoder(self.samples[index])

    def approx_lengths(self) -> list[int]:
        """Characters of text per sample: a cheap length for LengthGroupedSampler."""
        return [len(s.instruction) + sum(len(t.text) for t in s.conversation) for s in self.samples]
