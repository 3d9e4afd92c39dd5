"""A causal LM shipped as a GGUF file -> an ordinary safetensors folder (model, config, tokenizer)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def build(source: Path, out_dir: Path, dtype: torch.dtype, chat_template: bool) -> Iterator[str]:
    """Write model (safetensors, in `dtype`), config, generation config and tokenizer to `out_dir`.

    `chat_template`: whether the GGUF carries one. Yields "tokenizer", "dequantized", "rebuilt", "saved" as
    each stage ends."""
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    # Contract: the entry knows whether its model ships a chat template.
    assert bool(tokenizer.chat_template) == chat_template, f"{source.name}: chat template present != {chat_template}"
    yield "tokenizer"
    quantized = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    yield "dequantized"
    # A GGUF-loaded model refuses save_pretrained; rebuilt from its config minus the quantization, it saves.
    config = quantized.config
    del config.quantization_config
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    state = {name: tensor.to(dtype) for name, tensor in quantized.state_dict().items()}
    model.load_state_dict(state, strict=True, assign=True)
    model.tie_weights()
    tokenizer.model_max_length = config.max_position_embeddings
    yield "rebuilt"
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    yield "saved"
