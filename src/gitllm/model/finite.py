"""NaN and infinity are errors: what training computes, saves, merges, loads or caches is checked finite."""

from __future__ import annotations

from collections.abc import Mapping

import torch


class NonFiniteError(ValueError):
    """A loss, weight or feature holds NaN or infinity; the message names it and what to do."""


def non_finite(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors in `tensors` that hold a NaN or an infinity."""
    return [name for name, tensor in tensors.items()
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]


def check_finite(tensors: Mapping[str, torch.Tensor], what: str, fix: str) -> None:
    """Raise NonFiniteError naming the non-finite tensors of `what` (e.g. "trained weights of run X") and `fix`."""
    bad = non_finite(tensors)
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise NonFiniteError(f"{what}: {len(bad)} of {len(tensors)} tensors hold NaN or inf ({shown}); {fix}")
