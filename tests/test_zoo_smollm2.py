"""smollm2-135m-instruct: the dequantized folder is a working chat model, far better than random weights."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from gitllm.zoo import prepare
from lm_checks import greedy_continuation, random_init_ratio


@pytest.fixture(scope="module")
def folder() -> Path:
    start = time.perf_counter()
    path = prepare("smollm2-135m-instruct", progress=False)  # shared cache: $GITLLM_ZOO_DIR or ~/.cache/gitllm/zoo
    print(f"smollm2-135m-instruct ready in {time.perf_counter() - start:.2f} s at {path}")
    return path


@pytest.fixture(scope="module")
def model(folder: Path) -> PreTrainedModel:
    return AutoModelForCausalLM.from_pretrained(folder).eval()


@pytest.fixture(scope="module")
def tokenizer(folder: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(folder)


def test_folder_is_an_ordinary_fp32_checkpoint(folder: Path, model: PreTrainedModel) -> None:
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json"} <= {
        path.name for path in folder.iterdir()
    }
    assert type(model).__name__ == "LlamaForCausalLM" and model.dtype == torch.float32
    assert getattr(model.config, "quantization_config", None) is None
    assert sum(p.numel() for p in model.parameters()) == 134_515_008


def test_greedy_chat_answer_names_paris(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    assert "Paris" in greedy_continuation(model, tokenizer, prompt, 20)


def test_perplexity_far_below_random_init(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    assert random_init_ratio(model, tokenizer) >= 10
