"""`quiet_loading`: gitllm's loaders show the user what they asked for, not transformers' per-call bars."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from transformers.utils import logging as hf_logging


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Inside the block, transformers draws no progress bars (its "Loading weights" bar per `from_pretrained`);
    the previous setting comes back on exit. Warnings and errors still show."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
