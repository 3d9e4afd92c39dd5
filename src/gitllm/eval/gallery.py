"""An HTML gallery of answers: a header with the model, data and accuracy (per type, image-blind), then one
card per image (inline base64 thumbnail) with all of its questions, and a filter for wrong answers."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from gitllm.eval.report import TABLES, headline, type_table

THUMBNAIL = 224

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; padding: 16px; max-width: 1400px; background: #f4f5f7; }
header { background: #fff; padding: 12px 16px; border-radius: 8px; box-shadow: 0 1px 3px #0002; margin-bottom: 14px; }
header h1 { font-size: 20px; margin: 0 0 6px; } header p { margin: 2px 0; }
.tables { display: flex; flex-wrap: wrap; gap: 8px 28px; margin-top: 8px; }
table { border-collapse: collapse; font-size: 13px; } caption { text-align: left; font-weight: 600; }
th, td { padding: 1px 8px; text-align: right; } th:first-child, td:first-child { text-align: left; }
.filter { margin: 10px 0 0; font-weight: 600; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 260px), 1fr)); gap: 12px; }
.card { background: #fff; padding: 10px; border-radius: 8px; box-shadow: 0 1px 3px #0002;
        border-top: 5px solid #2a9d4b; }
.card.has-wrong { border-top-color: #d33; } .card.captions { border-top-color: #999; }
.card img { display: block; margin: 0 auto 8px; width: auto; max-width: 100%; height: clamp(96px, 12vw, 160px);
            object-fit: contain; image-rendering: pixelated; }
.qa { border-top: 1px solid #eee; padding: 3px 0; } .qa.incorrect .a { color: #c22; font-weight: 600; }
.qa.correct .a { color: #1d7a3a; } .k { color: #667; font-size: 12px; }
body.only-wrong .card:not(.has-wrong), body.only-wrong .qa.correct, body.only-wrong .qa.caption { display: none; }
"""

_SCRIPT = """
const box = document.getElementById("only-wrong");
box.addEventListener("change", () => document.body.classList.toggle("only-wrong", box.checked));
"""


@dataclass(frozen=True)
class GalleryItem:
    """One answered sample. correct: True/False for VQA (exact match), None for captions; `key` names the
    image (items with the same key share a card); `blind_answer`: the answer with another row's image."""

    image: Image.Image
    question: str
    reference: str
    answer: str
    correct: bool | None
    key: str = ""
    blind_answer: str | None = None


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


def write_gallery(items: Sequence[GalleryItem], path: str | Path, title: str = "gitllm eval",
                  metrics: dict[str, Any] | None = None, details: dict[str, str] | None = None) -> Path:
    """Write a self-contained HTML page (no external files) and return its path: `title`, `details` (e.g.
    {'model': ..., 'data': ...}) and `metrics` (`evaluate`'s) in the header, then one card per image key,
    in first-seen order (an item without a key gets its own card)."""
    cards: dict[str, list[GalleryItem]] = {}
    for i, item in enumerate(items):
        cards.setdefault(item.key or f"#{i}", []).append(item)
    wrong = sum(item.correct is False for item in items)
    facts = "".join(f"<p><b>{html.escape(k)}</b>: {html.escape(v)}</p>" for k, v in (details or {}).items())
    facts += "".join(f"<p>{html.escape(line)}</p>" for line in headline(metrics or {}))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>
<header><h1>{html.escape(title)}</h1>{facts}<div class="tables">{_tables(metrics or {})}</div>
<label class="filter"><input type="checkbox" id="only-wrong"> only wrong answers ({wrong} of {len(items)} answers,
{sum(any(i.correct is False for i in group) for group in cards.values())} of {len(cards)} images)</label></header>
<main class="grid">
{"".join(_card(group) for group in cards.values())}
</main><script>{_SCRIPT}</script></body></html>
"""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def _tables(metrics: dict[str, Any]) -> str:
    out = []
    for key, title in TABLES.items():
        if metrics.get(key):
            header, rows = type_table(metrics[key])
            head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
            body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
            out.append(f"<table><caption>{html.escape(title)}</caption><tr>{head}</tr>{body}</table>")
    return "".join(out)


def _card(group: Sequence[GalleryItem]) -> str:
    state = ("has-wrong" if any(i.correct is False for i in group)
             else "captions" if all(i.correct is None for i in group) else "all-correct")
    return (f'<div class="card {state}"><img src="{thumbnail_url(group[0].image)}" alt="">'
            + "".join(_row(item) for item in group) + "</div>")


def _row(item: GalleryItem) -> str:
    verdict = {True: "correct", False: "incorrect", None: "caption"}[item.correct]
    parts = [f'<div class="k">{html.escape(item.question)}</div>' if item.question else ""]
    parts.append(f'<span class="a">{html.escape(item.answer)}</span>')
    if item.correct is not True:
        parts.append(f' <span class="k">reference:</span> {html.escape(item.reference)}')
    if item.blind_answer is not None:
        parts.append(f' <span class="k">blind: {html.escape(item.blind_answer)}</span>')
    return f'<div class="qa {verdict}">{"".join(parts)}</div>'
