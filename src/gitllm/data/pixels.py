"""Image processor -> pixel tensor, with a fast path for resize/center-crop/normalize processors.

The fast path reproduces CLIP-, BiT/DINOv2-, SigLIP- and ViT-style processors (bilinear or bicubic resize,
center crop, rescale + normalize): torch's antialiased uint8 resize matches PIL's within one grey level at
about 5x the speed; the fused rescale+normalize runs in numpy, since per-image torch ops this small lose
more to intra-op thread synchronisation than they gain (10x slower on a busy 2-core machine). It also
tells the loader how small a JPEG may be decoded (`min_side`). Anything else goes through the processor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

_MODES = {Image.Resampling.BILINEAR: "bilinear", Image.Resampling.BICUBIC: "bicubic"}
# Processors whose resize/crop semantics the fast path reproduces (tests compare each with the real one).
FAST_PROCESSORS = ("CLIPImageProcessor", "BitImageProcessor", "SiglipImageProcessor", "ViTImageProcessor")


@dataclass(frozen=True)
class PixelTransform:
    """`transform(image) -> pixel_values (3,H,W) float32` for one RGB image; see `from_processor`."""

    processor: Any
    fast: bool
    shortest_edge: int | None = None
    size: tuple[int, int] | None = None        # (height, width) for exact resizing
    crop: tuple[int, int] | None = None        # (height, width) center crop
    mode: str = "bicubic"                      # torch interpolation mode (PIL's filter of the same name)
    scale: np.ndarray | None = None            # (3,1,1) float32: rescale_factor / std
    shift: np.ndarray | None = None            # (3,1,1) float32: mean / std

    @classmethod
    def from_processor(cls, processor: Any) -> PixelTransform:
        size = dict(getattr(processor, "size", None) or {})
        resizes = getattr(processor, "do_resize", False) and (
            set(size) == {"shortest_edge"} or set(size) == {"height", "width"}
        )
        resample = getattr(processor, "resample", None)
        resample = Image.Resampling.BILINEAR if resample is None else resample
        known = type(processor).__name__.removesuffix("Pil").removesuffix("Fast") in FAST_PROCESSORS
        plain = not getattr(processor, "do_pad", False) and getattr(processor, "do_rescale", False)
        simple = known and resizes and plain
        if not simple or resample not in _MODES:
            return cls(processor, fast=False)
        rescale = float(processor.rescale_factor)
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        if processor.do_normalize:
            mean, std = _triple(processor.image_mean), _triple(processor.image_std)
        crop = None
        if getattr(processor, "do_center_crop", False):
            crop = (int(processor.crop_size["height"]), int(processor.crop_size["width"]))
        return cls(
            processor,
            fast=True,
            shortest_edge=size.get("shortest_edge"),
            size=(size["height"], size["width"]) if "height" in size else None,
            crop=crop,
            mode=_MODES[resample],
            scale=np.array([rescale / s for s in std], dtype=np.float32).reshape(3, 1, 1),
            shift=np.array([m / s for m, s in zip(mean, std)], dtype=np.float32).reshape(3, 1, 1),
        )

    @property
    def min_side(self) -> int | None:
        """Shortest side the source image needs before resizing (None: decode at full size)."""
        if not self.fast:
            return None
        return self.shortest_edge or max(self.size)  # type: ignore[arg-type]

    def __call__(self, image: Image.Image) -> torch.Tensor:
        if not self.fast:
            return self.processor(images=image, return_tensors="pt")["pixel_values"][0]
        width, height = self._resized_size(*image.size)
        pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None]  # (1,3,H,W) uint8, channels-last
        pixels = F.interpolate(pixels, size=(height, width), mode=self.mode, antialias=True)[0]
        if self.crop is not None:
            crop_height, crop_width = self.crop
            # Contract: the crop fits inside the resized image (true for shortest_edge >= crop, as shipped).
            assert crop_height <= height and crop_width <= width, (self.crop, (height, width))
            top, left = (height - crop_height) // 2, (width - crop_width) // 2
            pixels = pixels[:, top : top + crop_height, left : left + crop_width]
        return torch.from_numpy(pixels.numpy() * self.scale - self.shift)

    def _resized_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) after resizing, computed as transformers does (int() truncation of the long side)."""
        if self.size is not None:
            return self.size[1], self.size[0]
        short = self.shortest_edge
        assert short is not None
        if width <= height:
            return short, int(short * height / width)
        return int(short * width / height), short


def _triple(value: float | list[float]) -> tuple[float, float, float]:
    values = [float(value)] * 3 if isinstance(value, (int, float)) else [float(v) for v in value]
    assert len(values) == 3, values
    return values[0], values[1], values[2]
