"""Shared checks of the zoo's real LLMs (no tests here): a greedy continuation, perplexity on a few plain sentences."""

from __future__ import annotations

import math

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

SENTENCES = [
    "The sun rises in the east and sets in the west.",
    "Water boils at one hundred degrees Celsius at sea level.",
    "She opened the door and walked into the kitchen to make a cup of tea.",
    "Children usually go to school from Monday to Friday.",
]


def greedy_continuation(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt: dict,
                        max_new_tokens: int) -> str:
    """The text `model` generates greedily after the tokenized `prompt` (printed, for the test log)."""
    output = model.generate(**prompt, max_new_tokens=max_new_tokens, do_sample=False)
    answer = tokenizer.decode(output[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)
    print(f"greedy continuation: {answer!r}")
    return answer


def perplexity(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> float:
    """Token-weighted perplexity of `model` over SENTENCES (each tokenized as the tokenizer does by default)."""
    total_nll, total_tokens = 0.0, 0
    for sentence in SENTENCES:
        ids = tokenizer(sentence, return_tensors="pt").input_ids
        with torch.no_grad():
            loss = model(input_ids=ids, labels=ids).loss
        total_nll += loss.item() * (ids.shape[1] - 1)
        total_tokens += ids.shape[1] - 1
    return math.exp(total_nll / total_tokens)


def random_init_ratio(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> float:
    """Perplexity of a random-init model of the same config (seed 0) over that of `model`."""
    torch.manual_seed(0)
    random_model = AutoModelForCausalLM.from_config(model.config).eval()
    trained, random = perplexity(model, tokenizer), perplexity(random_model, tokenizer)
    print(f"perplexity: pretrained {trained:.1f}, random init {random:.1f}, ratio {random / trained:.0f}x")
    return random / trained
