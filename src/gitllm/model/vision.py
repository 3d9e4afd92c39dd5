"""What gitllm needs to know about each vision encoder family, picked by the vision config's `model_type`."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

import torch
from transformers import PretrainedConfig, PreTrainedModel


@dataclass(frozen=True)
class VisionFamily:
    """prefix_tokens: CLS/register tokens before the patch tokens; fixed_size: the encoder accepts only
    `config.image_size` (True) or any multiple of the patch size (False: interpolated positions)."""

    prefix_tokens: Callable[[PretrainedConfig], int]
    fixed_size: bool


VISION_FAMILIES: dict[str, VisionFamily] = {
    "clip_vision_model": VisionFamily(lambda c: 1, fixed_size=True),
    "siglip_vision_model": VisionFamily(lambda c: 0, fixed_size=True),
    "vit": VisionFamily(lambda c: 1, fixed_size=True),
    "dinov2": VisionFamily(lambda c: 1, fixed_size=False),
    "dinov2_with_registers": VisionFamily(lambda c: 1 + c.num_register_tokens, fixed_size=False),
}


def vision_family(config: PretrainedConfig) -> VisionFamily:
    """The registered family of a vision config; unknown families are a ValueError."""
    if config.model_type not in VISION_FAMILIES:
        raise ValueError(
            f"vision model type {config.model_type!r} is not registered; known: {sorted(VISION_FAMILIES)} "
            "(add a VisionFamily to gitllm.model.vision.VISION_FAMILIES)"
        )
    return VISION_FAMILIES[config.model_type]


def _as_pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def patch_grid(config: PretrainedConfig, image_size: tuple[int, int] | None = None) -> tuple[int, int]:
    """(rows, cols) of patch tokens for an image of `image_size` (H, W); default the config's size."""
    height, width = image_size or _as_pair(config.image_size)
    patch_h, patch_w = _as_pair(config.patch_size)
    return height // patch_h, width // patch_w


def check_pixel_values(config: PretrainedConfig, pixel_values: torch.Tensor) -> None:
    """Raise a ValueError naming the problem when `pixel_values` (B, C, H, W) cannot go through the encoder."""
    if pixel_values.ndim != 4:
        raise ValueError(f"pixel_values must be (batch, channels, height, width), got shape {tuple(pixel_values.shape)}")
    height, width = pixel_values.shape[-2:]
    expected = _as_pair(config.image_size)
    patch_h, patch_w = _as_pair(config.patch_size)
    if vision_family(config).fixed_size and (height, width) != expected:
        raise ValueError(f"image size {height}x{width} does not match the vision encoder's {expected[0]}x{expected[1]}")
    if height % patch_h or width % patch_w:
        raise ValueError(f"image size {height}x{width} is not a multiple of the patch size {patch_h}x{patch_w}")
    if pixel_values.shape[1] != config.num_channels:
        raise ValueError(f"pixel_values has {pixel_values.shape[1]} channels, the encoder expects {config.num_channels}")


def encode_images(
    vision_model: PreTrainedModel, pixel_values: torch.Tensor, feature_layer: int, keep_cls: bool
) -> torch.Tensor:
    """pixel_values (B, C, H, W) -> image features (B, N, Dv), N = prefix tokens (if kept) + patches."""
    outputs = vision_model(pixel_values=pixel_values, output_hidden_states=feature_layer != -1)
    features = outputs.last_hidden_state if feature_layer == -1 else outputs.hidden_states[feature_layer]
    if keep_cls:
        return features
    return features[:, vision_family(vision_model.config).prefix_tokens(vision_model.config) :]


def num_image_tokens(config: PretrainedConfig, keep_cls: bool, image_size: tuple[int, int] | None = None) -> int:
    """Number of image tokens the LLM sees for one image."""
    rows, cols = patch_grid(config, image_size)
    return rows * cols + (vision_family(config).prefix_tokens(config) if keep_cls else 0)
