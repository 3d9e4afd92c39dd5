"""The GIT mask, padding-aware positions, cached generation and save/load, for every LLM family."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from gitllm import GitLLMForCausalLM
from tiny_models import LLM_FAMILIES, VOCAB, random_batch, tiny_model

# MPT and Gemma2 refuse sdpa in transformers 5; flex attention is checked separately (no CPU backward).
CASES = [(family, attn) for family in LLM_FAMILIES for attn in ("eager", "sdpa")
         if not (attn == "sdpa" and family in ("mpt", "gemma2"))]


def _features(model: GitLLMForCausalLM, batch: int, seed: int = 2) -> torch.Tensor:
    """Random vision features (B, N, Dv): lets a test change exactly one image token."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 17, model.config.vision_config.hidden_size, generator=generator)


def _last_hidden(model: GitLLMForCausalLM, **inputs: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(**inputs, output_hidden_states=True).hidden_states[-1]


@pytest.mark.parametrize("family,attn", CASES)
def test_image_block_is_bidirectional_and_blind_to_text(family: str, attn: str) -> None:
    model = tiny_model(family, attn=attn)
    input_ids = random_batch(batch=1)["input_ids"]
    features = _features(model, 1)
    base = _last_hidden(model, input_ids=input_ids, vision_features=features)
    num_image = features.shape[1]

    # (a) a random change of one text token leaves every image position exactly unchanged.
    changed_text = input_ids.clone()
    changed_text[0, 3] = (changed_text[0, 3] + 17) % VOCAB
    after_text = _last_hidden(model, input_ids=changed_text, vision_features=features)
    assert torch.equal(after_text[:, :num_image], base[:, :num_image])
    assert not torch.allclose(after_text[:, num_image + 3 :], base[:, num_image + 3 :])

    # (b) changing an image token changes the text; (c) the last image token reaches image position 0.
    changed_image = features.clone()
    changed_image[0, -1] = torch.randn(features.shape[-1], generator=torch.Generator().manual_seed(9))
    after_image = _last_hidden(model, input_ids=input_ids, vision_features=changed_image)
    assert (after_image[:, num_image:] - base[:, num_image:]).abs().max() > 1e-4
    assert (after_image[:, 0] - base[:, 0]).abs().max() > 1e-4


def _padded_batch(model: GitLLMForCausalLM) -> tuple[dict[str, torch.Tensor], list[dict[str, torch.Tensor]]]:
    """A left-padded batch of 2 (lengths 7 and 4) and the same rows alone."""
    data = random_batch(batch=2, text_len=7)
    features = _features(model, 2)
    input_ids, mask = data["input_ids"].clone(), torch.ones(2, 7, dtype=torch.long)
    input_ids[1, :3], mask[1, :3] = 0, 0
    rows = [
        {"input_ids": input_ids[0:1], "vision_features": features[0:1]},
        {"input_ids": input_ids[1:2, 3:], "vision_features": features[1:2]},
    ]
    return {"input_ids": input_ids, "attention_mask": mask, "vision_features": features}, rows


@pytest.mark.parametrize("family,attn", CASES)
def test_left_padded_batch_equals_rows_alone(family: str, attn: str) -> None:
    model = tiny_model(family, attn=attn)
    batch, rows = _padded_batch(model)
    with torch.no_grad():
        logits = model(**batch).logits
        alone = [model(**row).logits for row in rows]
    assert logits.shape == (2, 7, VOCAB)
    torch.testing.assert_close(logits[0:1], alone[0], atol=1e-4, rtol=0)
    torch.testing.assert_close(logits[1:2, 3:], alone[1], atol=1e-4, rtol=0)


@pytest.mark.parametrize("family,attn", CASES)
def test_right_padding_gives_the_same_logits_and_loss(family: str, attn: str) -> None:
    model = tiny_model(family, attn=attn)
    left, _ = _padded_batch(model)
    right = dict(left)
    right["input_ids"] = torch.cat([left["input_ids"][:1], torch.cat([left["input_ids"][1:, 3:],
                                    torch.zeros(1, 3, dtype=torch.long)], 1)])
    right["attention_mask"] = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    with torch.no_grad():
        out_left = model(**left, labels=left["input_ids"])
        out_right = model(**right, labels=right["input_ids"])
    torch.testing.assert_close(out_left.loss, out_right.loss, atol=1e-5, rtol=0)
    torch.testing.assert_close(out_left.logits[1, 3:], out_right.logits[1, :4], atol=1e-4, rtol=0)


@pytest.mark.parametrize("family,attn", CASES)
def test_cached_greedy_generation_matches_full_forward(family: str, attn: str) -> None:
    model = tiny_model(family, attn=attn)
    batch, _ = _padded_batch(model)
    new_tokens = 5
    out = model.generate(**batch, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                         output_logits=True, return_dict_in_generate=True, pad_token_id=0)
    assert out.sequences.shape == (2, new_tokens)
    full_ids = torch.cat([batch["input_ids"], out.sequences], dim=1)
    full_mask = torch.cat([batch["attention_mask"], torch.ones_like(out.sequences)], dim=1)
    with torch.no_grad():
        full = model(input_ids=full_ids, attention_mask=full_mask, vision_features=batch["vision_features"]).logits
    prompt_len = batch["input_ids"].shape[1]
    for step, step_logits in enumerate(out.logits):
        torch.testing.assert_close(step_logits, full[:, prompt_len - 1 + step], atol=1e-4, rtol=0)


@pytest.mark.parametrize("family,attn", CASES)
def test_beam_search_scores_equal_full_forward_log_probs(family: str, attn: str) -> None:
    model = tiny_model(family, attn=attn)
    batch, _ = _padded_batch(model)
    out = model.generate(**batch, num_beams=3, num_return_sequences=2, max_new_tokens=4, min_new_tokens=4,
                         do_sample=False, length_penalty=0.0, early_stopping=True, output_scores=True,
                         return_dict_in_generate=True, pad_token_id=0)
    assert out.sequences.shape == (4, 4)
    rows = {key: value.repeat_interleave(2, dim=0) for key, value in batch.items()}
    full_ids = torch.cat([rows["input_ids"], out.sequences], dim=1)
    full_mask = torch.cat([rows["attention_mask"], torch.ones_like(out.sequences)], dim=1)
    with torch.no_grad():
        logits = model(input_ids=full_ids, attention_mask=full_mask, vision_features=rows["vision_features"]).logits
    log_probs = logits[:, -5:-1].log_softmax(-1).gather(-1, out.sequences[..., None]).squeeze(-1).sum(-1)
    torch.testing.assert_close(out.sequences_scores, log_probs, atol=1e-4, rtol=0)


@pytest.mark.parametrize("family", list(LLM_FAMILIES))
def test_save_and_load_round_trip(family: str, tmp_path) -> None:
    model = tiny_model(family)
    batch, _ = _padded_batch(model)
    pixel_batch = {**random_batch(batch=2), "attention_mask": torch.ones(2, 7, dtype=torch.long)}
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    for loader in (GitLLMForCausalLM, AutoModelForCausalLM):
        loaded = loader.from_pretrained(tmp_path, attn_implementation="eager").eval()
        assert isinstance(loaded, GitLLMForCausalLM)
        with torch.no_grad():
            assert torch.equal(loaded(**batch).logits, model(**batch).logits)
            assert torch.equal(loaded(**pixel_batch).logits, model(**pixel_batch).logits)


@pytest.mark.parametrize("family", ["llama", "qwen2", "opt"])
def test_flex_attention_matches_sdpa(family: str) -> None:
    sdpa, flex = tiny_model(family, attn="sdpa"), tiny_model(family, attn="flex_attention")
    batch, _ = _padded_batch(sdpa)
    with torch.no_grad():
        torch.testing.assert_close(flex(**batch).logits, sdpa(**batch).logits, atol=1e-4, rtol=0)
