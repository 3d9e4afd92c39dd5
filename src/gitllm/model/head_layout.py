"""`DecodeHead`: decode through a column-major copy of a CPU float32 LM head, leaving the model untouched.

Decoding multiplies a handful of rows by the (V, D) output embedding, the largest matrix of a small LM. On
CPU, `F.linear` reads that weight much faster when it is stored as the transpose of a contiguous (D, V)
tensor (1-8 rows; no difference for training-sized batches). Re-storing the Parameter itself would change
the user's model (tied weights stop saving, `inference_mode` turns it into an inference tensor), and copying
it per call costs more than decoding gains, so the copy is kept beside the model and refreshed when the
weight changes. bf16 heads gain nothing from the layout and GPU BLAS takes either, so only CPU float32
heads computing in float32 (no autocast) use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

_COLUMN_STEP = 7919  # a prime: the sampled element of row r sits in column (r * 7919) % D


class DecodeHead:
    """A column-major copy (V, D) of an LM head's weight, used by the head inside `active` only.

    Contract: the copy is remade whenever the weight changes: another tensor or storage, an in-place update
    autograd counts (optimizer steps, `load_state_dict`, `copy_` under no_grad), or a write through `.data`
    that changes any sampled element (one per row, in a different column each)."""

    def __init__(self) -> None:
        self._copy: torch.Tensor | None = None
        self._key: tuple[int, int, int, tuple[int, ...]] | None = None
        self._sample: torch.Tensor | None = None

    @contextmanager
    def active(self, lm: PreTrainedModel) -> Iterator[bool]:
        """Within, `lm`'s head computes from the copy when grad is off; yields whether it does (CPU float32
        `nn.Linear` heads without autocast). On exit the head's own forward is back, also after an error."""
        head = lm.get_output_embeddings()
        if not _eligible(head):
            yield False
            return
        forward = _CopyForward(head, self.column_major(head.weight))
        head.forward = forward  # an instance attribute shadows nn.Linear.forward; deleted below
        try:
            yield True
        finally:
            if head.__dict__.get("forward") is forward:
                del head.forward

    def column_major(self, weight: torch.Tensor) -> torch.Tensor:
        """The copy of `weight` (V, D) with strides (1, V), remade when `weight` changed (see the Contract)."""
        with torch.inference_mode(False), torch.no_grad():  # a normal tensor, even when called in inference mode
            key = (id(weight), weight.data_ptr(), weight._version, tuple(weight.shape))
            sample = _sample(weight)
            if self._copy is None or key != self._key or not torch.equal(sample, self._sample):
                self._copy = weight.detach().t().contiguous().t()
                self._key, self._sample = key, sample
            return self._copy


class _CopyForward:
    """`head.forward` while decoding: the copy when grad is off, the Parameter otherwise (e.g. a training
    forward in another thread)."""

    def __init__(self, head: nn.Linear, weight: torch.Tensor) -> None:
        self.head, self.weight = head, weight

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        weight = self.head.weight if torch.is_grad_enabled() else self.weight
        return F.linear(hidden, weight, self.head.bias)


def _eligible(head: nn.Module | None) -> bool:
    if type(head) is not nn.Linear or "forward" in head.__dict__:  # a subclass or a hooked forward: leave it
        return False
    weight = head.weight
    return weight.device.type == "cpu" and weight.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")


def _sample(weight: torch.Tensor) -> torch.Tensor:
    """One element per row of `weight` (V, D), cloned."""
    rows = torch.arange(weight.shape[0], device=weight.device)
    return weight.detach()[rows, (rows * _COLUMN_STEP) % weight.shape[1]].clone()
