"""smollm2-135m-random: SmolLM2-135M's shape and tokenizer with seeded random weights (Experiment 2's baseline)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from gitllm.zoo import prepare
from gitllm.zoo.random_init import SEED
from lm_checks import perplexity

SAME_SHAPE_KEYS = ("model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                   "num_key_value_heads", "vocab_size", "max_position_embeddings", "tie_word_embeddings",
                   "rope_parameters")


@pytest.fixture(scope="module")
def folders() -> tuple[Path, Path]:
    return prepare("smollm2-135m-random", progress=False), prepare("smollm2-135m-instruct", progress=False)


def test_same_config_and_tokenizer_as_smollm2(folders: tuple[Path, Path]) -> None:
    shapes = [{k: getattr(AutoConfig.from_pretrained(d), k) for k in SAME_SHAPE_KEYS} for d in folders]
    assert shapes[0] == shapes[1]
    random_tokenizer, tokenizer = (AutoTokenizer.from_pretrained(d) for d in folders)
    text = "What is the colour of the triangle?"
    assert random_tokenizer(text).input_ids == tokenizer(text).input_ids
    assert random_tokenizer.chat_template == tokenizer.chat_template


def test_weights_are_the_models_own_init_under_the_fixed_seed(folders: tuple[Path, Path]) -> None:
    random_dir, pretrained_dir = folders
    model = AutoModelForCausalLM.from_pretrained(random_dir)
    assert model.dtype == torch.float32 and sum(p.numel() for p in model.parameters()) == 134_515_008
    torch.manual_seed(SEED)
    fresh = AutoModelForCausalLM.from_config(model.config)
    for name in ("model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
                 "model.layers.29.mlp.down_proj.weight"):
        assert torch.equal(model.get_parameter(name), fresh.get_parameter(name)), name
    words = model.get_input_embeddings().weight
    assert words.std().item() == pytest.approx(model.config.initializer_range, rel=0.05)
    pretrained = AutoModelForCausalLM.from_pretrained(pretrained_dir)
    assert not torch.allclose(words, pretrained.get_input_embeddings().weight)


def test_knows_no_language(folders: tuple[Path, Path]) -> None:
    random_dir, _ = folders
    model = AutoModelForCausalLM.from_pretrained(random_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(random_dir)
    value = perplexity(model, tokenizer)
    print(f"random-init perplexity {value:.0f} (vocabulary {model.config.vocab_size})")
    assert value > 0.2 * model.config.vocab_size
