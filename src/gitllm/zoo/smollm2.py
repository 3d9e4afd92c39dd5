"""SmolLM2-135M-Instruct: dequantize the package's GGUF into an ordinary fp32 safetensors folder.

fp32, not bf16: Q4_1 dequantizes to values (scale * q + min) that bf16 would round again; fp32 keeps the
GGUF's numbers exactly, and 538 MB is small.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from gitllm.zoo import gguf_lm


def build(source: Path, out_dir: Path) -> Iterator[str]:
    """Write model (safetensors), config, generation config and tokenizer (with chat template) to `out_dir`."""
    yield from gguf_lm.build(source, out_dir, torch.float32, chat_template=True)
