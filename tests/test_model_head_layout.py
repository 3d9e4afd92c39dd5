"""`use_decode_layout`: generate re-stores a CPU float32 LM head column-major without changing anything a
user can observe: values, the Parameter (and its tying), logits, and what save_pretrained writes."""

from __future__ import annotations

from pathlib import Path

import torch

from gitllm import GitLLMForCausalLM
from gitllm.model.head_layout import use_decode_layout
from tiny_models import random_batch, tiny_model


def test_generate_stores_the_head_column_major_keeping_values_and_tying() -> None:
    model = tiny_model("gemma")  # Gemma ties the head to the input embeddings
    lm = model.language_model
    weight = lm.get_output_embeddings().weight
    before = weight.detach().clone()
    assert weight.is_contiguous() and lm.get_input_embeddings().weight is weight
    batch = random_batch()
    model.generate(**batch, max_new_tokens=2, do_sample=False)
    assert lm.get_output_embeddings().weight is weight and lm.get_input_embeddings().weight is weight
    assert weight.t().is_contiguous() and not weight.is_contiguous()
    assert torch.equal(weight, before)
    assert not use_decode_layout(lm), "a second call must not copy again"


def test_logits_and_saved_weights_unchanged(tmp_path: Path) -> None:
    model = tiny_model("llama")
    batch = random_batch()
    with torch.no_grad():
        before = model(**batch).logits
        assert use_decode_layout(model.language_model)
        after = model(**batch).logits
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)
    model.save_pretrained(tmp_path)
    loaded = GitLLMForCausalLM.from_pretrained(tmp_path).eval()
    assert torch.equal(loaded.language_model.get_output_embeddings().weight,
                       model.language_model.get_output_embeddings().weight)


def test_bf16_heads_stay_as_they_are() -> None:
    lm = tiny_model("llama").to(torch.bfloat16).language_model
    assert not use_decode_layout(lm)
    assert lm.get_output_embeddings().weight.is_contiguous()


def test_heads_computing_under_autocast_stay_as_they_are() -> None:
    lm = tiny_model("llama").language_model
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not use_decode_layout(lm)
    assert lm.get_output_embeddings().weight.is_contiguous()
