"""Visual words: nearest-token metrics, exact patch placement on a non-square grid, and chelsea with the zoo model."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import skimage
import torch
from transformers import CLIPImageProcessor

from gitllm import GitLLMProcessor
from gitllm.play import cli as play_cli
from gitllm.play.overlay import overlay_figure, patch_centres
from gitllm.play.visual_words import nearest_tokens, sanity_fraction, visual_words
from test_play_helpers import image, one_torch_thread  # noqa: F401 (fixture)
from tiny_models import tiny_model, tiny_tokenizer

CHELSEA = Path(skimage.__file__).parent / "data" / "chelsea.png"


def test_cosine_and_dot_nearest_tokens() -> None:
    """[3, 3] has the largest dot product with every row, so dot maps all rows to it; cosine does not."""
    vocab = torch.tensor([[1.0, 0.0], [0.0, 1.0], [3.0, 3.0]])
    assert nearest_tokens(vocab, vocab, "cosine").tolist() == [0, 1, 2]
    assert nearest_tokens(vocab, vocab, "dot").tolist() == [2, 2, 2]
    assert sanity_fraction(vocab, "cosine") == 1.0 and sanity_fraction(vocab, "dot") == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="unknown metric 'l2'"):
        nearest_tokens(vocab, vocab, "l2")


def test_words_sit_on_their_patches_in_a_2x3_grid(monkeypatch) -> None:
    """A tiny DINOv2 sees a 16x24 image as 2x3 patches of 8 px after its CLS token. The projected image tokens
    are replaced by the embeddings of known tokens, so the word of patch (r, c) is known exactly."""
    model = tiny_model("llama", "dinov2", keep_cls=True)
    processor = GitLLMProcessor(CLIPImageProcessor(size={"height": 16, "width": 24}, do_center_crop=False),
                                tiny_tokenizer())
    ids = [40, 10, 11, 12, 13, 14, 15]  # CLS, then patches row-major
    project = model.visual_projection.forward
    monkeypatch.setattr(model.visual_projection, "forward",
                        lambda features: project(features) * 0 + model.get_input_embeddings().weight[ids])
    result = visual_words(model, processor, image(0, (48, 60)), metric="cosine", sanity_tokens=None)
    assert result.grid == (2, 3) and result.patch_size == (8, 8) and result.image.shape == (16, 24, 3)
    assert result.prefix_words == ["w36"] and result.words == ["w6", "w7", "w8", "w9", "w10", "w11"]
    assert result.sanity == 1.0  # cosine recovers every token of a random embedding matrix
    texts = overlay_figure(result).axes[0].texts
    placed = [(t.get_text(), t.get_position()) for t in texts]
    assert placed == [("w6", (4.0, 4.0)), ("w7", (12.0, 4.0)), ("w8", (20.0, 4.0)),
                      ("w9", (4.0, 12.0)), ("w10", (12.0, 12.0)), ("w11", (20.0, 12.0))]
    assert patch_centres((2, 3), (8, 8)) == [p for _, p in placed]


def test_without_cls_every_token_is_a_patch() -> None:
    model = tiny_model("llama", "dinov2", keep_cls=False)
    processor = GitLLMProcessor(CLIPImageProcessor(size={"height": 16, "width": 24}, do_center_crop=False),
                                tiny_tokenizer())
    result = visual_words(model, processor, image(1), metric="dot", sanity_tokens=0)
    assert result.prefix_words == [] and len(result.words) == 6 and result.sanity is None
    assert sum(result.counts.values()) == 6 and "prefix tokens" not in result.table()


def test_chelsea_with_the_zoo_model(tmp_path, capsys) -> None:
    """DINOv2-S/14 + SmolLM2-135M (untrained projection): 16x16 patches + CLS on chelsea.png, table printed."""
    out = tmp_path / "overlay.png"
    parser = argparse.ArgumentParser()
    play_cli.register(parser.add_subparsers())
    args = parser.parse_args(["visual-words", "--model", "dinov2-small+smollm2-135m-instruct", str(CHELSEA),
                              "--out", str(out), "--sanity-tokens", "512"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 100_000
    assert "16x16 patches" in printed and "prefix tokens (CLS/registers, not drawn)" in printed
    counts = [int(line.split()[0]) for line in printed.splitlines()[2:] if line.split() and line.split()[0].isdigit()]
    assert counts and counts == sorted(counts, reverse=True) and sum(counts) <= 256
    sanity = float(printed.split("sanity: ")[1].split("%")[0])
    assert sanity > 90  # cosine maps SmolLM2's own embeddings back to their tokens


def test_overlay_draws_whole_words_large_enough_and_the_whole_title() -> None:
    """Long words are not cut, a small image is drawn at least MIN_WIDTH_PX wide, and the (wrapped) title
    lies inside the figure above the image."""
    from gitllm.play.overlay import MIN_WIDTH_PX
    from gitllm.play.visual_words import VisualWords

    words = ["supercalifragilistic", "a", "w10", "Ġthe"] * 4
    result = VisualWords(words=words, prefix_words=["<s>", "prefixword" * 6], token_ids=list(range(18)),
                         grid=(4, 4), patch_size=(8, 8), image=np.zeros((32, 32, 3), np.uint8), metric="cosine")
    figure = overlay_figure(result)
    figure.canvas.draw()
    assert [t.get_text() for t in figure.axes[0].texts] == words
    assert figure.axes[0].get_window_extent().width >= MIN_WIDTH_PX
    (title,) = figure.texts
    box, image_box = title.get_window_extent(), figure.axes[0].get_window_extent()
    assert "prefixword" * 6 in title.get_text().replace("\n", "")
    assert box.x0 >= 0 and box.x1 <= figure.bbox.width and box.y1 <= figure.bbox.height and box.y0 >= image_box.y1
