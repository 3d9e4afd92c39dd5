"""Several images per row ("frames"): validation of frame inputs and GIT's temporal embeddings.

A row's frames are given as pixel_values (B, F, C, H, W) or vision_features (B, F, N, Dv) with a
`frame_mask` (B, F): 1 for a real frame, 0 for padding, real frames first. Frame k of a row carries the
temporal embedding k (GIT's `img_temporal_embedding`: one (1, 1, Dv) parameter per frame, zero-initialised,
added to that frame's vision features before the projection) when the row has two or more real frames; a
row with one real frame takes none, so it equals the same image given as (B, C, H, W).
"""

from __future__ import annotations

import torch
from torch import nn


def temporal_embeddings(num_frames: int | None, vision_dim: int) -> nn.ParameterList | None:
    """`num_frames` zero (1, 1, vision_dim) parameters (HF GIT / heron layout), or None when not configured."""
    if num_frames is None:
        return None
    return nn.ParameterList(nn.Parameter(torch.zeros(1, 1, vision_dim)) for _ in range(num_frames))


def check_frames(images: torch.Tensor, frame_mask: torch.Tensor | None, max_frames: int | None) -> torch.Tensor:
    """Validate frames `images` (B, F, ...) and return the frame mask (B, F) long (all ones when None).

    ValueError for no frames, more frames than temporal embeddings, a mask of the wrong shape or values,
    a row without a real frame, or padding before a real frame."""
    batch, frames = images.shape[:2]
    if frames == 0:
        raise ValueError("a row has an empty frame list (F = 0): give each row at least one image")
    if max_frames is not None and frames > max_frames:
        raise ValueError(f"{frames} frames per row but the model has temporal embeddings for "
                         f"{max_frames} (GitLLMConfig.num_image_with_embedding): sample at most {max_frames} frames")
    if frame_mask is None:
        return torch.ones(batch, frames, dtype=torch.long, device=images.device)
    if tuple(frame_mask.shape) != (batch, frames):
        raise ValueError(f"frame_mask shape {tuple(frame_mask.shape)} must be (batch, frames) = {(batch, frames)}")
    frame_mask = frame_mask.long()
    if not bool(((frame_mask == 0) | (frame_mask == 1)).all()):
        raise ValueError("frame_mask must hold 1 (real frame) or 0 (padding)")
    if not bool(frame_mask[:, 0].all()):
        raise ValueError("every row needs at least one real frame (frame_mask[:, 0] must be 1)")
    if not bool((frame_mask[:, 1:] <= frame_mask[:, :-1]).all()):
        raise ValueError("padded frames must come after a row's real frames (frame_mask like 1 1 0 0)")
    return frame_mask


def frame_token_mask(frame_mask: torch.Tensor, num_tokens: int) -> torch.Tensor:
    """frame_mask (B, F) spread over a row's `num_tokens` image tokens (B, num_tokens): frame k owns the k-th
    run of num_tokens / F tokens (frames projected alone, in order)."""
    return frame_mask.repeat_interleave(num_tokens // frame_mask.shape[1], dim=1)


def add_temporal_embeddings(features: torch.Tensor, frame_mask: torch.Tensor,
                            table: nn.ParameterList | None) -> torch.Tensor:
    """features (B, F, N, Dv) plus embedding k on frame k of rows with two or more real frames; padded frames
    are zeroed (never attended, but kept finite)."""
    real = frame_mask.bool()[..., None, None]
    features = torch.where(real, features, torch.zeros((), dtype=features.dtype, device=features.device))
    if table is None:
        return features
    # Contract: check_frames bounded F by len(table).
    embeddings = torch.cat([table[k] for k in range(features.shape[1])], dim=0).to(features.dtype)  # (F, 1, Dv)
    sequences = (frame_mask.sum(-1) > 1)[:, None, None, None]
    return features + embeddings * (sequences & real)
