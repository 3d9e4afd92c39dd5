"""`DecodeHead`: generate decodes a CPU float32 LM head from a column-major copy of its weight, and nothing a
user can observe changes: the Parameter (values, strides, tying), saving, autograd after `inference_mode`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gitllm import GitLLMForCausalLM
from gitllm.model.head_layout import DecodeHead
from tiny_models import random_batch, tiny_model

GENERATE = dict(max_new_tokens=3, do_sample=False)
TIED, UNTIED = ["opt", "gpt2", "gemma"], ["llama"]
EAGER = {"text_config": "eager", "vision_config": "eager"}  # as tiny_model builds it: bit-identical logits


def _is_tied(model: GitLLMForCausalLM) -> bool:
    lm = model.language_model
    return lm.get_output_embeddings().weight is lm.get_input_embeddings().weight


@pytest.mark.parametrize("llm", TIED + UNTIED)
def test_fault_generate_then_save_pretrained_reloads_identical(tmp_path: Path, llm: str) -> None:
    model = tiny_model(llm)
    assert _is_tied(model) == (llm in TIED)
    weight = model.language_model.get_output_embeddings().weight
    batch = random_batch()
    tokens = model.generate(**batch, **GENERATE)
    assert weight.is_contiguous() and model.language_model.get_output_embeddings().weight is weight
    assert "forward" not in model.language_model.get_output_embeddings().__dict__  # the head's own forward again
    model.save_pretrained(tmp_path)
    loaded = GitLLMForCausalLM.from_pretrained(tmp_path, attn_implementation=EAGER).eval()
    assert _is_tied(loaded) == (llm in TIED)
    with torch.no_grad():
        assert torch.equal(loaded(**batch).logits, model(**batch).logits)
    assert torch.equal(loaded.generate(**batch, **GENERATE), tokens)


@pytest.mark.parametrize("llm", ["opt", "llama"])
def test_fault_generate_in_inference_mode_then_a_training_step(llm: str) -> None:
    model = tiny_model(llm)
    batch = random_batch()
    with torch.inference_mode():
        model.generate(**batch, **GENERATE)
    assert not model.language_model.get_output_embeddings().weight.is_inference()
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(**batch, labels=batch["input_ids"]).loss.backward()
    optimizer.step()
    with torch.inference_mode():  # again, after the weights changed
        model.generate(**batch, **GENERATE)


def test_decoding_uses_the_column_major_copy_and_gives_the_same_tokens() -> None:
    model = tiny_model("gemma")
    head = model.language_model.get_output_embeddings()
    seen: list[torch.Tensor] = []
    head.register_forward_pre_hook(lambda module, args: seen.append(module.forward.weight))
    batch = random_batch()
    tokens = model.generate(**batch, **GENERATE)
    assert seen and all(w.t().is_contiguous() and torch.equal(w, head.weight) for w in seen)
    assert all(w is seen[0] for w in seen), "one copy, made once"
    model.generate(**batch, **GENERATE)
    assert seen[-1] is seen[0], "kept for the next call while the weight is unchanged"
    plain = tiny_model("gemma")
    plain_head = plain.language_model.get_output_embeddings()
    plain_head.forward = plain_head.forward  # a forward someone else set: left alone, the Parameter decodes
    assert torch.equal(plain.generate(**batch, **GENERATE), tokens)


def test_the_copy_follows_weight_changes() -> None:
    model = tiny_model("llama")
    weight = model.language_model.get_output_embeddings().weight
    decode = DecodeHead()
    first = decode.column_major(weight)
    assert decode.column_major(weight) is first, "unchanged weight: no new copy"
    with torch.no_grad():
        weight.mul_(2)  # seen by the version counter
    assert torch.equal(decode.column_major(weight), weight)
    weight.data.copy_(torch.randn_like(weight))  # a write autograd does not count
    assert torch.equal(decode.column_major(weight), weight)
    weight.data[5] += 1  # one row
    assert torch.equal(decode.column_major(weight), weight)


def test_head_restored_after_an_error() -> None:
    model = tiny_model("llama")
    with pytest.raises(ValueError):
        model.generate(**random_batch(), attention_mask=torch.zeros(2, 7, dtype=torch.long), **GENERATE)
    assert "forward" not in model.language_model.get_output_embeddings().__dict__


def test_bf16_heads_and_autocast_use_no_copy() -> None:
    lm = tiny_model("llama").to(torch.bfloat16).language_model
    with DecodeHead().active(lm) as active:
        assert not active
    lm = tiny_model("llama").language_model
    with torch.autocast("cpu", dtype=torch.bfloat16), DecodeHead().active(lm) as active:
        assert not active
