"""Helpers (no tests) shared by the play/serve/eval tests: a tiny model + processor saved as a folder, images."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tiny_models import tiny_model, tiny_processor


def save_tiny(folder: Path) -> Path:
    """A tiny random model and its processor saved where `load_model` finds them."""
    tiny_model(seed=0).save_pretrained(folder)
    tiny_processor().save_pretrained(folder)
    return folder


def image(seed: int, size: tuple[int, int] = (40, 50)) -> Image.Image:
    """A random RGB image, (height, width) = size."""
    pixels = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def png_bytes(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models run ~10x faster on one thread on this shared 2-core machine; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@contextmanager
def running_server(playground: object) -> Iterator[str]:
    """A playground server on a free loopback port, in a thread; yields its base URL; always shut down."""
    from gitllm.play.server import make_server, serve_in_thread

    server = make_server(playground, port=0)  # type: ignore[arg-type]
    thread, port = serve_in_thread(server)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
