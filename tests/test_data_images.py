"""Robust image loading: mode conversions, EXIF orientation, size limits, and every broken-image kind."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from test_data_fixtures import encoded, photo

from gitllm.data import ImageError, load_image


def _png(image: Image.Image) -> bytes:
    return encoded(image, "PNG")


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (Image.new("RGBA", (4, 3), (255, 0, 0, 0)), (255, 255, 255)),  # fully transparent -> white
        (Image.new("RGBA", (4, 3), (255, 0, 0, 255)), (255, 0, 0)),
        (Image.new("LA", (4, 3), (0, 0)), (255, 255, 255)),
        (Image.new("L", (4, 3), 77), (77, 77, 77)),
        (Image.new("1", (4, 3), 1), (255, 255, 255)),
        (Image.new("CMYK", (4, 3), (0, 255, 255, 0)), (255, 0, 0)),
        (Image.new("I;16", (4, 3), 65535), (255, 255, 255)),
        (Image.new("I;16", (4, 3), 32896), (128, 128, 128)),
        (Image.new("I", (4, 3), 65535), (255, 255, 255)),
        (Image.new("F", (4, 3), 0.5), (128, 128, 128)),
        (Image.new("RGB", (4, 3), (1, 2, 3)).convert("P", palette=Image.Palette.ADAPTIVE), (1, 2, 3)),
    ],
    ids=["RGBA-clear", "RGBA-opaque", "LA", "L", "1", "CMYK", "I;16-max", "I;16-mid", "I", "F", "P"],
)
def test_modes_become_rgb(image: Image.Image, expected: tuple[int, int, int]) -> None:
    out = load_image(image)
    assert out.mode == "RGB" and out.size == (4, 3)
    assert out.getpixel((1, 1)) == expected


def test_palette_transparency_from_png_bytes() -> None:
    palette = Image.new("P", (4, 3), 0)
    palette.putpalette([10, 20, 30] * 256)
    palette.info["transparency"] = 0
    out = load_image(_png(palette))
    assert out.getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_png_file(tmp_path) -> None:
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((3, 4), 65535, dtype=np.uint16)).save(path)
    assert load_image(path).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("orientation", [6, 8, 3])
def test_exif_orientation_is_applied(orientation: int) -> None:
    # Left half red, right half blue, stored 40x20 with an EXIF rotation.
    stored = Image.new("RGB", (40, 20), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = load_image(encoded_with_exif(stored, exif))
    red_corner = {6: (10, 5), 8: (10, 35), 3: (35, 10)}[orientation]  # where the red half lands
    assert out.size == ((20, 40) if orientation in (6, 8) else (40, 20))
    r, g, b = out.getpixel(red_corner)
    assert r > 200 and b < 60


def encoded_with_exif(image: Image.Image, exif: Image.Exif) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


def test_decompression_bomb_limit_is_a_clear_error() -> None:
    with pytest.raises(ImageError, match=r"image_too_large: .*200x100 = 20000 pixels, over the limit of 10000"):
        load_image(_png(Image.new("RGB", (200, 100))), max_pixels=10_000)


def test_very_large_images_are_downscaled() -> None:
    out = load_image(_png(Image.new("RGB", (3000, 1500))), max_side=1000)
    assert out.size == (1000, 500)
    given = Image.new("RGB", (300, 150))
    assert load_image(given, max_side=100).size == (100, 50) and given.size == (300, 150)  # caller's image kept


def test_jpeg_draft_keeps_the_needed_shortest_side() -> None:
    data = encoded(photo("astronaut.png", side=512))  # 512x512 JPEG
    assert load_image(data, min_side=100).size == (128, 128)  # decoded at 1/4 scale, still >= 100
    assert load_image(data).size == (512, 512)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: b"", "empty_image"),
        (lambda tmp: b"this is not an image at all", "not_an_image"),
        (lambda tmp: encoded(photo())[:600], "truncated_image"),
        (lambda tmp: tmp / "missing.jpg", "image_not_found"),
        (lambda tmp: (tmp / "zero.jpg").write_bytes(b"") or tmp / "zero.jpg", "empty_image"),
    ],
    ids=["zero-bytes", "non-image", "truncated", "missing-file", "zero-byte-file"],
)
def test_broken_images_raise_named_reasons(tmp_path, make, reason: str) -> None:
    with pytest.raises(ImageError) as caught:
        load_image(make(tmp_path))
    assert caught.value.reason == reason
