"""Visual projections, picked by id: image features (B, N, Dv) -> LLM input embeddings (B, N, Dt)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn


def git_projection(vision_dim: int, text_dim: int) -> nn.Module:
    """GIT's visual projection: Linear + LayerNorm."""
    return nn.Sequential(nn.Linear(vision_dim, text_dim), nn.LayerNorm(text_dim))


def mlp2x_gelu_projection(vision_dim: int, text_dim: int) -> nn.Module:
    """LLaVA-1.5's projector: Linear, GELU, Linear."""
    return nn.Sequential(nn.Linear(vision_dim, text_dim), nn.GELU(), nn.Linear(text_dim, text_dim))


PROJECTIONS: dict[str, Callable[[int, int], nn.Module]] = {
    "git": git_projection,
    "mlp2x_gelu": mlp2x_gelu_projection,
}


def build_projection(name: str, vision_dim: int, text_dim: int) -> nn.Module:
    """Build the projection registered as `name`; unknown ids are a ValueError listing the known ones."""
    if name not in PROJECTIONS:
        raise ValueError(f"unknown projection {name!r}; known: {sorted(PROJECTIONS)}")
    return PROJECTIONS[name](vision_dim, text_dim)
