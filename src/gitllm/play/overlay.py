"""Drawing visual words: each patch's word at its patch centre on the encoder's view, coloured by frequency."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from gitllm.play.visual_words import VisualWords  # noqa: E402

SCALE = 4  # figure pixels per image pixel at least, so 14-pixel patches get readable words
MIN_WIDTH_PX = 800  # smaller images are drawn larger, so their words stay readable
DPI = 100
COLORMAP = "plasma"
TITLE_PT = 11


def patch_centres(grid: tuple[int, int], patch_size: tuple[int, int]) -> list[tuple[float, float]]:
    """(x, y) pixel centre of every patch, row-major: patch k is at row k // cols, column k % cols."""
    (rows, cols), (height, width) = grid, patch_size
    return [((c + 0.5) * width, (r + 0.5) * height) for r in range(rows) for c in range(cols)]


def overlay_figure(result: VisualWords) -> Figure:
    """The image with one word per patch on a box whose colour = how many patches share the word (colour bar)."""
    height, width = result.image.shape[:2]
    counts = result.counts
    top = max(counts.values())
    colormap = plt.get_cmap(COLORMAP)
    norm = matplotlib.colors.Normalize(vmin=1, vmax=max(top, 2))
    scale = max(SCALE, MIN_WIDTH_PX / width)
    title = f"visual words ({result.metric}), {result.grid[0]}x{result.grid[1]} patches"
    if result.prefix_words:
        title += "; prefix: " + ", ".join(result.prefix_words)
    figure_width = width * scale / DPI + 1.2
    title = textwrap.fill(title, width=int(figure_width * 72 / (0.6 * TITLE_PT)))
    top_margin = 0.3 + 0.25 * (title.count("\n") + 1)  # inches: the title's lines never overlap the image
    figure = Figure(figsize=(figure_width, height * scale / DPI + top_margin), dpi=DPI)
    axes = figure.add_axes((0.0, 0.0, width * scale / DPI / figure.get_figwidth(), 1 - top_margin / figure.get_figheight()))
    axes.imshow(result.image, extent=(0, width, height, 0), interpolation="nearest")
    axes.set_xlim(0, width)
    axes.set_ylim(height, 0)
    axes.axis("off")
    cell_pt = result.patch_size[1] * scale * 72 / DPI  # a patch's width in points
    for (x, y), word in zip(patch_centres(result.grid, result.patch_size), result.words, strict=True):
        box = colormap(norm(counts[word]))
        ink = "black" if 0.299 * box[0] + 0.587 * box[1] + 0.114 * box[2] > 0.5 else "white"  # readable on the box
        font = max(4.0, min(12.0, cell_pt / (0.62 * max(len(word), 3))))  # the whole word fits its patch
        axes.text(x, y, word, color=ink, fontsize=font, ha="center", va="center",
                  bbox=dict(boxstyle="square,pad=0.1", fc=box, alpha=0.8, lw=0))
    figure.text(0.01, 1 - 0.1 / figure.get_figheight(), title, fontsize=TITLE_PT, va="top", ha="left")
    bar_axes = figure.add_axes((1 - 1.0 / figure.get_figwidth(), 0.1, 0.25 / figure.get_figwidth(), 0.75))
    figure.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=colormap), cax=bar_axes, label="patches with this word")
    return figure


def save_overlay(result: VisualWords, out_png: str | Path) -> Path:
    """Write the overlay PNG (folders created) and return its path."""
    path = Path(out_png)
    path.parent.mkdir(parents=True, exist_ok=True)
    overlay_figure(result).savefig(path, dpi=DPI)
    return path
