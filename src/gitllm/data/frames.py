"""Several images per sample ("frames"): per-row frames padded into one batch tensor with a frame mask."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def stack_frames(rows: Sequence[torch.Tensor | Sequence[torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row frames, each a tensor (F_i, *S) or a list of F_i tensors (*S) (pixels (3, H, W) or features
    (N, Dv) per frame), -> (B, F, *S) with F = max F_i, zero-padded after each row's frames, and
    frame_mask (B, F) long (1 = real frame).

    ValueError for no rows, a row without frames, or frames of different shapes."""
    if not rows:
        raise ValueError("no rows to stack")
    if any(len(row) == 0 for row in rows):
        raise ValueError("a row has an empty frame list: give each sample at least one image")
    shape = tuple(rows[0][0].shape)
    for row in rows:
        for frame in row:
            if tuple(frame.shape) != shape:
                raise ValueError(f"frames of different sizes: {shape} and {tuple(frame.shape)} (resize every "
                                 "frame to one size, e.g. model.image_size in a recipe)")
    out = np.zeros((len(rows), max(len(row) for row in rows), *shape), dtype=rows[0][0].numpy().dtype)
    mask = torch.zeros(out.shape[:2], dtype=torch.long)
    for i, row in enumerate(rows):
        # A single-threaded numpy copy: torch's parallel copy stalls when the cores are busy.
        for k, frame in enumerate(row):
            out[i, k] = frame.numpy()
        mask[i, : len(row)] = 1
    return torch.from_numpy(out), mask
