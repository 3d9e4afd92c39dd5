"""An HTML gallery of answers: each image inline (base64 thumbnail), its question, reference and answer."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

THUMBNAIL = 224


@dataclass(frozen=True)
class GalleryItem:
    """correct: True/False for VQA (exact match), None for captions."""

    image: Image.Image
    question: str
    reference: str
    answer: str
    correct: bool | None


def frame_strip(images: Sequence[Image.Image], gap: int = 4) -> Image.Image:
    """Several images (frames) side by side in order, scaled to the first one's height, on white; one image
    as it is."""
    if len(images) == 1:
        return images[0]
    height = images[0].height
    scaled = [image.resize((max(1, round(image.width * height / image.height)), height)) for image in images]
    strip = Image.new("RGB", (sum(s.width for s in scaled) + gap * (len(scaled) - 1), height), (255, 255, 255))
    left = 0
    for image in scaled:
        strip.paste(image.convert("RGB"), (left, 0))
        left += image.width + gap
    return strip


def thumbnail_url(image: Image.Image, side: int = THUMBNAIL) -> str:
    """A JPEG data URL of `image` shrunk to at most `side` pixels (a frame strip: `side` high)."""
    small = image.convert("RGB")
    small.thumbnail((side * max(1, small.width // max(1, small.height)), side))
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def write_gallery(items: Sequence[GalleryItem], path: str | Path, title: str = "gitllm eval") -> Path:
    """Write a self-contained HTML page (no external files) and return its path."""
    cards = "\n".join(_card(item) for item in items)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 20px; background: #f4f5f7; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 14px; }}
.card {{ background: #fff; width: 250px; padding: 10px; border-radius: 8px; box-shadow: 0 1px 3px #0002;
         border-top: 5px solid #999; }}
.card.correct {{ border-top-color: #2a9d4b; }} .card.incorrect {{ border-top-color: #d33; }}
.card img {{ width: 100%; image-rendering: pixelated; display: block; margin: 0 auto 8px; }} .k {{ color: #667; font-size: 12px; }}
</style></head><body><h1>{html.escape(title)}</h1><div class="grid">
{cards}
</div></body></html>
"""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def _card(item: GalleryItem) -> str:
    verdict = {True: "correct", False: "incorrect", None: "caption"}[item.correct]
    rows = [("question", item.question), ("reference", item.reference), ("answer", item.answer)]
    fields = "".join(f'<div><span class="k">{k}</span> {html.escape(v)}</div>' for k, v in rows if k != "question" or v)
    mark = f'<div class="k">{verdict}</div>' if item.correct is not None else ""
    return f'<div class="card {verdict}"><img src="{thumbnail_url(item.image)}" alt="">{fields}{mark}</div>'
