"""`prefix_token_ids`: LM tokens before the image take the attention-sink position; causal, read by all."""

from __future__ import annotations

import pytest
import torch

from gitllm import GitLLMConfig, GitLLMForCausalLM
from tiny_models import VOCAB, random_batch, text_config, tiny_model, tiny_processor, vision_config

PREFIX = [1, 5]  # BOS and one more token
FAMILIES = ["llama", "opt", "mpt", "gpt2"]  # RoPE, learned positions with offset, ALiBi, absolute positions


def _features(batch: int, seed: int = 2) -> torch.Tensor:
    return torch.randn(batch, 17, 24, generator=torch.Generator().manual_seed(seed))


def _hidden(model: GitLLMForCausalLM, **inputs: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(**inputs, output_hidden_states=True).hidden_states[-1]


@pytest.mark.parametrize("family", FAMILIES)
def test_prefix_is_causal_and_read_by_image_and_text(family: str) -> None:
    model = tiny_model(family, prefix_token_ids=PREFIX)
    input_ids, features = random_batch(batch=1)["input_ids"], _features(1)
    base = _hidden(model, input_ids=input_ids, vision_features=features)
    assert base.shape[1] == len(PREFIX) + 17 + input_ids.shape[1]

    # The prefix sees only itself: its states are those of the LM on the prefix alone, whatever the image.
    changed = features.clone()
    changed[0, 0] += torch.randn(24, generator=torch.Generator().manual_seed(3))
    after_image = _hidden(model, input_ids=input_ids, vision_features=changed)
    assert torch.equal(after_image[:, :2], base[:, :2])
    with torch.no_grad():
        alone = model.language_model(torch.tensor([PREFIX]), output_hidden_states=True).hidden_states[-1]
    torch.testing.assert_close(base[:, :2], alone, atol=1e-5, rtol=0)
    assert (after_image[:, 2:] - base[:, 2:]).abs().max() > 1e-4

    # Image positions stay blind to the text; a different prefix reaches image and text.
    changed_text = input_ids.clone()
    changed_text[0, 2] = (changed_text[0, 2] + 11) % VOCAB
    assert torch.equal(_hidden(model, input_ids=changed_text, vision_features=features)[:, :19], base[:, :19])
    other = tiny_model(family, prefix_token_ids=[1, 6])
    assert (_hidden(other, input_ids=input_ids, vision_features=features)[:, 2:] - base[:, 2:]).abs().min() > 0


@pytest.mark.parametrize("family", FAMILIES)
def test_prefix_padding_and_cached_generation(family: str) -> None:
    model = tiny_model(family, prefix_token_ids=PREFIX)
    input_ids, features = random_batch(batch=2)["input_ids"], _features(2)
    mask = torch.ones_like(input_ids)
    input_ids[1, :3], mask[1, :3] = 0, 0
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=mask, vision_features=features).logits
        alone = model(input_ids=input_ids[1:, 3:], vision_features=features[1:]).logits
    torch.testing.assert_close(logits[1:, 3:], alone, atol=1e-4, rtol=0)

    out = model.generate(input_ids=input_ids, attention_mask=mask, vision_features=features, max_new_tokens=4,
                         min_new_tokens=4, do_sample=False, output_logits=True, return_dict_in_generate=True,
                         pad_token_id=0)
    full_ids = torch.cat([input_ids, out.sequences], 1)
    full_mask = torch.cat([mask, torch.ones_like(out.sequences)], 1)
    with torch.no_grad():
        full = model(input_ids=full_ids, attention_mask=full_mask, vision_features=features).logits
    for step, step_logits in enumerate(out.logits):
        torch.testing.assert_close(step_logits, full[:, input_ids.shape[1] - 1 + step], atol=1e-4, rtol=0)


def test_prefix_survives_save_and_load(tmp_path) -> None:
    model = tiny_model("llama", prefix_token_ids=PREFIX)
    model.save_pretrained(tmp_path)
    loaded = GitLLMForCausalLM.from_pretrained(tmp_path, attn_implementation="eager")
    assert loaded.config.prefix_token_ids == PREFIX
    batch = {"input_ids": random_batch(batch=1)["input_ids"], "vision_features": _features(1)}
    with torch.no_grad():
        out = model(**batch)
        assert torch.equal(loaded.eval()(**batch).logits, out.logits)
    assert out.image_token_count == 17


def test_prefix_ids_outside_the_vocabulary_are_refused() -> None:
    with pytest.raises(ValueError, match="prefix_token_ids"):
        GitLLMConfig(vision_config=vision_config(), text_config=text_config("llama"), prefix_token_ids=[VOCAB])


def test_gitllm_build_takes_the_prefix_as_text_and_word_scale(tmp_path) -> None:
    import argparse

    from gitllm import build_cli as cli

    model, processor = tiny_model("llama"), tiny_processor()
    model.vision_model.save_pretrained(tmp_path / "vision")
    processor.image_processor.save_pretrained(tmp_path / "vision")
    model.language_model.save_pretrained(tmp_path / "llm")
    processor.tokenizer.save_pretrained(tmp_path / "llm")
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["build", "--vision", str(tmp_path / "vision"), "--llm", str(tmp_path / "llm"),
                              "--prefix", "<s> w3", "--word-scale", "--out", str(tmp_path / "out")])
    assert args.func(args) == 0
    built = GitLLMForCausalLM.from_pretrained(tmp_path / "out")
    assert built.config.prefix_token_ids == [1, 7]
    torch.testing.assert_close(built.visual_projection[-1].weight.mean(), model.get_input_embeddings().weight.std())
