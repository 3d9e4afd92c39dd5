"""Gemma 3 270M (base): the GGUF joined from its chunk packages, dequantized into a bf16 safetensors folder.

bf16: 268M parameters are 1.07 GB in fp32 and 536 MB in bf16, and Gemma 3 was trained in bf16; rounding the
dequantized Q4_K / Q5_0 / Q6_K / Q8_0 weights to bf16 moves them far less than the quantization did. Load it with
`dtype=torch.float32` to train (gitllm's training does). The model multiplies its word embeddings by
sqrt(hidden_size) inside its embedding module (`Gemma3TextScaledWordEmbedding`), so embeddings taken from
`get_input_embeddings()(ids)` are already scaled. Its tokenizer adds BOS and has no chat template.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from gitllm.zoo import gguf_lm


def build(source: Path, out_dir: Path) -> Iterator[str]:
    """Write model (bf16 safetensors), config, generation config and tokenizer to `out_dir`."""
    yield from gguf_lm.build(source, out_dir, torch.bfloat16, chat_template=False)
