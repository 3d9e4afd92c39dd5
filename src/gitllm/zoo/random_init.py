"""SmolLM2-135M with random weights: its config and tokenizer (read from the GGUF), weights from a fixed seed.

The baseline that says how much an LLM's pretraining matters: same shape, same tokenizer, no knowledge. The
weights are the model's own initialisation (transformers' `_init_weights`) under `torch.manual_seed(SEED)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

SEED = 0


def build(source: Path, out_dir: Path) -> Iterator[str]:
    """Write a randomly initialised fp32 model, its config and the GGUF's tokenizer to `out_dir`."""
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    config = AutoConfig.from_pretrained(source.parent, gguf_file=source.name)
    yield "config"
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    tokenizer.model_max_length = config.max_position_embeddings
    yield "initialised"
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    yield "saved"
