"""A user sees what they asked for: gitllm's own calls raise no warnings and draw no progress bars."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from transformers.utils import logging as hf_logging

from gitllm.model.quiet import quiet_loading
from gitllm.play.overlay import MISSING_GLYPH, drawable, overlay_figure
from gitllm.play.visual_words import VisualWords
from gitllm.train import LoraSpec, apply_groups
from gitllm.train.config import CONFIG_FILE_NAME, dump_config, load_config
from gitllm.train.plot import plot_runs
from tiny_models import tiny_model


@contextmanager
def no_warnings() -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []


def test_word_scale_does_not_warn() -> None:
    model = tiny_model()
    with no_warnings():
        model.match_word_scale()


def test_lora_wrapping_does_not_warn() -> None:
    model = tiny_model()
    with no_warnings():
        spec = LoraSpec(target_modules=["q_proj", "v_proj"])
        apply_groups(model, ["proj", "lora"], spec, spec)


def test_loss_plot_without_validation_does_not_warn(tmp_path: Path) -> None:
    dump_config(load_config({"groups": ["proj"]}), tmp_path / CONFIG_FILE_NAME)
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "loss": 1 / s}) + "\n" for s in (1, 2, 3)))
    with no_warnings():
        plot_runs([tmp_path], tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_overlay_of_words_the_font_lacks_does_not_warn(tmp_path: Path) -> None:
    result = VisualWords(words=["猫", "cat", "猫", "é"], prefix_words=["ア"], token_ids=[9, 1, 2, 1, 3], grid=(2, 2),
                         patch_size=(8, 8), image=np.zeros((16, 16, 3), np.uint8), metric="cosine")
    with no_warnings():
        figure = overlay_figure(result)
        figure.savefig(tmp_path / "overlay.png")
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert texts == [MISSING_GLYPH, "cat", MISSING_GLYPH, "é"] and drawable("ア b") == f"{MISSING_GLYPH} b"


def test_quiet_loading_restores_the_progress_bar_setting() -> None:
    assert hf_logging.is_progress_bar_enabled()
    with quiet_loading():
        assert not hf_logging.is_progress_bar_enabled()
    assert hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with quiet_loading():
            pass
        assert not hf_logging.is_progress_bar_enabled()  # a user's own choice is kept
    finally:
        hf_logging.enable_progress_bar()
