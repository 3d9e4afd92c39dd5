"""`load_model`: the one loader every play command uses (saved folder, PEFT adapter folder, or two zoo halves)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from gitllm.model import GitLLMForCausalLM, GitLLMProcessor

PARTS_SEPARATOR = "+"
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def as_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """A torch dtype from itself or its name ('float32', 'bfloat16', 'float16')."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; known: {sorted(DTYPES)}")
    return DTYPES[dtype]


def load_model(source: str | Path, dtype: torch.dtype | str = torch.float32) -> tuple[GitLLMForCausalLM, GitLLMProcessor]:
    """(model in eval mode, processor) from one of:

    - a folder saved with `model.save_pretrained` + `processor.save_pretrained`;
    - a folder holding a PEFT adapter (`adapter_config.json`) over such a folder: the adapter is merged;
    - `VISION+LLM`, two halves (zoo names, folders or hub ids), e.g. `dinov2-small+smollm2-135m-instruct`:
      pretrained halves joined by an untrained projection (for looking inside, not for answers).
    """
    dtype = as_dtype(dtype)
    text = str(source)
    folder = Path(text)
    if not folder.is_dir() and PARTS_SEPARATOR in text:
        vision, llm = text.split(PARTS_SEPARATOR, 1)
        model = GitLLMForCausalLM.from_pretrained_parts(vision, llm, dtype=dtype)
        return model.eval(), GitLLMProcessor.from_parts(vision, llm)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no model folder {text!r}: pass a folder saved by gitllm (model + processor), a training run's "
            f"adapter folder, or VISION{PARTS_SEPARATOR}LLM halves such as dinov2-small+smollm2-135m-instruct"
        )
    if (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
        return _load_adapter(folder, dtype)
    model = GitLLMForCausalLM.from_pretrained(folder, dtype=dtype)
    return model.eval(), _load_processor(folder)


def _load_processor(folder: Path) -> GitLLMProcessor:
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(folder)
    except (OSError, ValueError) as err:
        raise FileNotFoundError(f"{folder} has no gitllm processor (save it beside the model): {err}") from None
    if not isinstance(processor, GitLLMProcessor):
        raise ValueError(f"{folder} holds a {type(processor).__name__}, not a GitLLMProcessor")
    return processor


def _load_adapter(folder: Path, dtype: torch.dtype) -> tuple[GitLLMForCausalLM, GitLLMProcessor]:
    """A PEFT adapter over the base model its config names; merged so generation runs at full speed."""
    from peft import PeftModel

    base = json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"]
    if not base:
        raise ValueError(f"{folder}/adapter_config.json names no base model")
    model, processor = load_model(base, dtype)
    merged = PeftModel.from_pretrained(model, folder).merge_and_unload()
    has_processor = (folder / "processor_config.json").is_file() or (folder / "tokenizer_config.json").is_file()
    return merged.eval(), _load_processor(folder) if has_processor else processor
