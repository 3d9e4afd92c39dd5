"""Robust image loading: any source and mode to an RGB PIL image, with clear errors for broken data."""

from __future__ import annotations

import io
import math
import os
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from gitllm.data.rows import REASONS

ImageSource = bytes | str | os.PathLike | Image.Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
MAX_PIXELS = 89_478_485  # PIL's own bomb-warning threshold (about 0.25 GiB as RGB)
MAX_SIDE = 4096          # larger images are downscaled right after decoding
MAX_ASPECT = 100         # longest / shortest side; beyond it resizing by the short side blows up, a crop keeps ~nothing
_WHITE = (255, 255, 255, 255)
_EXIF_ORIENTATION = 0x0112


class ImageError(ValueError):
    """An image that cannot be loaded; `reason` is one of gitllm.data.rows.REASONS."""

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in REASONS, reason
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


def load_image(
    source: ImageSource,
    *,
    min_side: int | None = None,
    max_side: int = MAX_SIDE,
    max_pixels: int = MAX_PIXELS,
    max_aspect: float = MAX_ASPECT,
) -> Image.Image:
    """Decode `source` (encoded bytes, a file path or a PIL image) into an RGB image.

    EXIF orientation is applied; RGBA/LA/P are composited on white; CMYK, I;16, I, F, L and 1 become RGB.
    `min_side`: the consumer needs at least this many pixels on the shortest side, so JPEGs may be decoded
    at 1/2, 1/4 or 1/8 scale (PIL draft mode) while keeping it. Images over `max_pixels` raise
    ImageError('image_too_large') before decoding, one side over `max_aspect` times the other
    ImageError('bad_aspect_ratio'); a longest side over `max_side` is downscaled (each side stays >= 1 px).
    """
    image = source if isinstance(source, Image.Image) else _decode(source, min_side, max_pixels)
    width, height = image.size
    if min(width, height) < 1 or max(width, height) > max_aspect * min(width, height):
        raise ImageError("bad_aspect_ratio", f"image is {width}x{height} pixels: one side is over {max_aspect:g} "
                         "times the other (the limit); crop or pad it")
    if image.getexif().get(_EXIF_ORIENTATION, 1) != 1:
        image = ImageOps.exif_transpose(image)
    image = to_rgb(image)
    if max(image.size) > max_side:
        scale = max_side / max(image.size)
        size = tuple(max(1, round(side * scale)) for side in image.size)
        image = image.resize(size, Image.Resampling.BICUBIC)
    # Contract: callers always get a fully decoded RGB image.
    assert image.mode == "RGB"
    return image


def _decode(source: bytes | str | os.PathLike, min_side: int | None, max_pixels: int) -> Image.Image:
    if isinstance(source, bytes):
        if not source:
            raise ImageError("empty_image", "zero bytes of image data")
        return _decode_stream(io.BytesIO(source), "image bytes", min_side, max_pixels)
    path = Path(source)
    if not path.is_file():
        raise ImageError("image_not_found", f"no such file: {path}")
    if path.stat().st_size == 0:
        raise ImageError("empty_image", f"zero-byte file: {path}")
    with path.open("rb") as stream:
        return _decode_stream(stream, str(path), min_side, max_pixels)


def _decode_stream(stream: io.IOBase, name: str, min_side: int | None, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(stream)  # reads the header only
    except UnidentifiedImageError:
        raise ImageError("not_an_image", f"{name} is not a recognised image format") from None
    except Image.DecompressionBombError as err:
        raise ImageError("image_too_large", f"{name}: {err}") from None
    except OSError as err:
        raise ImageError("truncated_image", f"{name}: header could not be read ({err})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            "image_too_large", f"{name} is {width}x{height} = {width * height} pixels, over the limit of {max_pixels}"
        )
    if min_side and image.format == "JPEG" and min(width, height) > min_side:
        scale = min_side / min(width, height)
        image.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError("truncated_image", f"{name} could not be fully decoded ({err})") from None
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode to RGB: high-bit-depth greyscale is rescaled, transparency composited on white."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I") or mode == "F":
        import numpy as np  # here, not at the top: `import gitllm.data` (the CLI's --help) stays light

        pixels = np.asarray(image, dtype=np.float32)
        top = 1.0 if mode == "F" and pixels.max() <= 1.0 else 255.0
        if mode.startswith("I;16") or (mode == "I" and pixels.max() > 255):
            top = 65535.0
        image = Image.fromarray(np.clip(pixels * (255.0 / top) + 0.5, 0, 255).astype(np.uint8), "L")
    elif mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.new("RGBA", rgba.size, _WHITE)
        image.alpha_composite(rgba)
    return image.convert("RGB")
