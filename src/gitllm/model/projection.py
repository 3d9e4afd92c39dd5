"""Visual projections, picked by id: image features (B, N, Dv) -> LLM input embeddings (B, N, Dt)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def git_projection(vision_dim: int, text_dim: int) -> nn.Module:
    """GIT's visual projection: Linear + LayerNorm."""
    return nn.Sequential(nn.Linear(vision_dim, text_dim), nn.LayerNorm(text_dim))


def mlp2x_gelu_projection(vision_dim: int, text_dim: int) -> nn.Module:
    """LLaVA-1.5's projector: Linear, GELU, Linear."""
    return nn.Sequential(nn.Linear(vision_dim, text_dim), nn.GELU(), nn.Linear(text_dim, text_dim))


class TokenPooling(nn.Module):
    """Pools the image tokens (B, N, D) to one (B, 1, D); `per_token` strips it for per-patch analyses."""


class MeanTokens(TokenPooling):
    """(B, N, D) -> (B, 1, D): the mean over the image tokens."""

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens.mean(dim=1, keepdim=True)


class FirstToken(TokenPooling):
    """(B, N, D) -> (B, 1, D): the first token (the encoder's CLS when `keep_cls`)."""

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens[:, :1]


def git_mean_projection(vision_dim: int, text_dim: int) -> nn.Module:
    """GIT's Linear + LayerNorm on the mean of the image tokens: ONE image token for the LLM, so every LLM
    step is as short as the text (mean then Linear equals Linear then mean; the LayerNorm comes last)."""
    return nn.Sequential(nn.Linear(vision_dim, text_dim), MeanTokens(), nn.LayerNorm(text_dim))


def git_cls_projection(vision_dim: int, text_dim: int) -> nn.Module:
    """GIT's Linear + LayerNorm on the CLS token alone: ONE image token, the encoder's own summary (needs
    `keep_cls`)."""
    return nn.Sequential(FirstToken(), nn.Linear(vision_dim, text_dim), nn.LayerNorm(text_dim))


PROJECTIONS: dict[str, Callable[[int, int], nn.Module]] = {
    "git": git_projection,
    "mlp2x_gelu": mlp2x_gelu_projection,
    "git_mean": git_mean_projection,
    "git_cls": git_cls_projection,
}
NEEDS_CLS = {"git_cls"}  # projections that read the encoder's CLS token


def per_token(projection: nn.Module) -> nn.Module:
    """`projection` without its token pooling: one output per image token, for per-patch analyses such as
    visual words (the projection itself when it does not pool)."""
    if isinstance(projection, nn.Sequential) and any(isinstance(m, TokenPooling) for m in projection):
        return nn.Sequential(*(m for m in projection if not isinstance(m, TokenPooling)))
    return projection


def set_output_scale(projection: nn.Module, std: float) -> None:
    """Set the gain of the projection's final LayerNorm to `std` (e.g. the LLM's word-embedding std, so image
    tokens start at the scale of words); a projection not ending in a LayerNorm is a ValueError."""
    last = projection[-1] if isinstance(projection, nn.Sequential) else projection
    if not isinstance(last, nn.LayerNorm):
        raise ValueError(f"word scale needs a projection ending in a LayerNorm (git, git_mean, git_cls), "
                         f"not {type(last).__name__}")
    with torch.no_grad():
        last.weight.fill_(std)


def build_projection(name: str, vision_dim: int, text_dim: int, layer_norm_eps: float = 1e-5) -> nn.Module:
    """Build the projection registered as `name`, its LayerNorms with epsilon `layer_norm_eps`; unknown ids are a
    ValueError listing the known ones."""
    if name not in PROJECTIONS:
        raise ValueError(f"unknown projection {name!r}; known: {sorted(PROJECTIONS)}")
    projection = PROJECTIONS[name](vision_dim, text_dim)
    for module in projection.modules():
        if isinstance(module, nn.LayerNorm):
            module.eps = layer_norm_eps
    return projection
