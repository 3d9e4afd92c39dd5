"""The GIT attention mask as a plain tensor, for people who study it (the model builds its own per backend)."""

from __future__ import annotations

import torch


def git_attention_mask(num_image_tokens: int, num_text_tokens: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Additive mask (1, 1, L, L), L = image + text: 0 where attended, -inf elsewhere.

    Image rows attend to all image columns and to no text; text rows attend to every image column and
    causally to text. F frames of N tokens each are one image block: pass num_image_tokens = F x N."""
    if num_image_tokens < 0 or num_text_tokens < 0:
        raise ValueError("token counts must be non-negative")
    total = num_image_tokens + num_text_tokens
    allowed = torch.ones(total, total, dtype=torch.bool).tril()
    allowed[:num_image_tokens, :num_image_tokens] = True
    mask = torch.full((total, total), float("-inf"), dtype=dtype)
    return mask.masked_fill(allowed, 0.0)[None, None]
