"""SmolLM2-135M-Instruct: dequantize the package's GGUF into an ordinary fp32 safetensors folder.

fp32, not bf16: Q4_1 dequantizes to values (scale * q + min) that bf16 would round again; fp32 keeps the
GGUF's numbers exactly, and 538 MB is small.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def build(source: Path, out_dir: Path) -> Iterator[str]:
    """Write model (safetensors), config, generation config and tokenizer (with chat template) to `out_dir`."""
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    yield "tokenizer"
    quantized = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    yield "dequantized"
    # A GGUF-loaded model refuses save_pretrained; rebuilt from its config minus the quantization, it saves.
    config = quantized.config
    del config.quantization_config
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict(), strict=True, assign=True)
    model.tie_weights()
    tokenizer.model_max_length = config.max_position_embeddings
    assert tokenizer.chat_template, "Contract: the GGUF carries SmolLM2's chat template"
    yield "rebuilt"
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    yield "saved"
