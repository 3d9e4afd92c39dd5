"""Several images per row (frames): one image block, GIT's temporal embeddings, padded frames, generation."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from gitllm import GitLLMForCausalLM
from tiny_models import IMAGE, VOCAB, tiny_model, tiny_processor

TOKENS = 17  # CLIP tiny: 16 patches + CLS


def _frames(batch: int, frames: int, seed: int = 3) -> torch.Tensor:
    return torch.randn(batch, frames, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(seed))


def _ids(batch: int, length: int = 6, seed: int = 4) -> torch.Tensor:
    return torch.randint(3, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


def _randomize_temporal(model: GitLLMForCausalLM, seed: int = 5) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.img_temporal_embedding:
            parameter.copy_(torch.randn(parameter.shape, generator=generator))


def test_zero_temporal_embeddings_equal_the_model_without_them() -> None:
    plain = tiny_model()
    timed = tiny_model(num_image_with_embedding=4)
    assert [tuple(p.shape) for p in timed.img_temporal_embedding] == [(1, 1, 24)] * 4
    assert all(not p.any() for p in timed.img_temporal_embedding) and plain.img_temporal_embedding is None
    missing = timed.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing == [f"img_temporal_embedding.{k}" for k in range(4)]
    ids, pixels = _ids(2), _frames(2, 3)
    with torch.no_grad():
        assert torch.equal(timed(ids, pixel_values=pixels).logits, plain(ids, pixel_values=pixels).logits)
        assert torch.equal(timed(ids, pixel_values=pixels[:, 0]).logits, plain(ids, pixel_values=pixels[:, 0]).logits)


def test_temporal_embedding_of_frame_k_reaches_exactly_frame_k() -> None:
    model = tiny_model(num_image_with_embedding=3)
    pixels = _frames(2, 3)
    with torch.no_grad():
        base = model.image_embeddings(pixels)
        assert base.shape == (2, 3 * TOKENS, 32)
        for k in range(3):
            model.img_temporal_embedding[k].add_(1.0)
            changed = (model.image_embeddings(pixels) - base).abs().amax(dim=(0, 2)) > 1e-5
            model.img_temporal_embedding[k].sub_(1.0)
            expected = torch.zeros(3 * TOKENS, dtype=torch.bool)
            expected[k * TOKENS : (k + 1) * TOKENS] = True
            assert torch.equal(changed, expected), k


def test_frames_are_encoded_one_by_one_in_order() -> None:
    model = tiny_model()
    pixels = _frames(2, 3)
    with torch.no_grad():
        frames = model.image_embeddings(pixels)
        for k in range(3):
            alone = model.image_embeddings(pixels[:, k])
            torch.testing.assert_close(frames[:, k * TOKENS : (k + 1) * TOKENS], alone, atol=1e-6, rtol=0)


@pytest.mark.parametrize("temporal", [None, 4])
def test_swapping_two_frames_changes_the_text_logits(temporal: int | None) -> None:
    model = tiny_model(num_image_with_embedding=temporal)
    if temporal:
        _randomize_temporal(model)
    ids, pixels = _ids(1), _frames(1, 4)
    swapped = pixels[:, [0, 2, 1, 3]]
    with torch.no_grad():
        difference = (model(ids, pixel_values=pixels).logits - model(ids, pixel_values=swapped).logits).abs().max()
    assert difference > 1e-5  # float noise here is ~1e-7; positions alone give ~5e-4, embeddings more


@pytest.mark.parametrize(("family", "attn"), [("llama", "eager"), ("llama", "sdpa"), ("opt", "sdpa"),
                                               ("mpt", "eager"), ("gpt2", "eager")])
def test_padded_frames_equal_the_row_alone(family: str, attn: str) -> None:
    model = tiny_model(family, attn=attn, num_image_with_embedding=4)
    _randomize_temporal(model)
    ids, pixels = _ids(2), _frames(2, 4)
    pixels[1, 2:] = float("nan")  # padded frames are never encoded nor attended
    mask = torch.ones_like(ids)
    ids[1, :2], mask[1, :2] = 0, 0  # text padding in the same row
    frame_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    with torch.no_grad():
        both = model(ids, pixel_values=pixels, attention_mask=mask, frame_mask=frame_mask).logits
        alone = model(ids[1:, 2:], pixel_values=pixels[1:, :2]).logits
        first = model(ids[:1], pixel_values=pixels[:1]).logits
    torch.testing.assert_close(both[1:, 2:], alone, atol=1e-4, rtol=0)
    torch.testing.assert_close(both[:1], first, atol=1e-4, rtol=0)


def test_a_row_with_one_real_frame_equals_the_single_image() -> None:
    model = tiny_model(num_image_with_embedding=2)
    _randomize_temporal(model)
    ids, pixels = _ids(2), _frames(2, 2)
    with torch.no_grad():
        framed = model(ids, pixel_values=pixels, frame_mask=torch.tensor([[1, 1], [1, 0]])).logits
        single = model(ids[1:], pixel_values=pixels[1:, 0]).logits
    torch.testing.assert_close(framed[1:], single, atol=1e-5, rtol=0)


@pytest.mark.parametrize("text_padding", [True, False])
def test_cached_generation_equals_the_full_forward(text_padding: bool) -> None:
    model = tiny_model(num_image_with_embedding=3, prefix_token_ids=[1])
    _randomize_temporal(model)
    ids, pixels = _ids(2), _frames(2, 3)
    mask = torch.ones_like(ids)
    if text_padding:
        ids[0, :3], mask[0, :3] = 0, 0
    frame_mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    features = model.encode_images(pixels.flatten(0, 1)).unflatten(0, (2, 3))
    out = model.generate(input_ids=ids, attention_mask=mask, vision_features=features, frame_mask=frame_mask,
                         max_new_tokens=4, min_new_tokens=4, do_sample=False, output_logits=True,
                         return_dict_in_generate=True, pad_token_id=0)
    full_ids = torch.cat([ids, out.sequences], 1)
    full_mask = torch.cat([mask, torch.ones_like(out.sequences)], 1)
    with torch.no_grad():
        full = model(full_ids, pixel_values=pixels, attention_mask=full_mask, frame_mask=frame_mask).logits
    for step, step_logits in enumerate(out.logits):
        torch.testing.assert_close(step_logits, full[:, ids.shape[1] - 1 + step], atol=1e-4, rtol=0)


@pytest.mark.parametrize("projection", ["git_mean", "git_cls"])
def test_pooling_projections_pool_each_frame(projection: str) -> None:
    model = tiny_model(projection=projection, num_image_with_embedding=3)
    ids, pixels = _ids(2), _frames(2, 3)
    with torch.no_grad():
        tokens = model.image_embeddings(pixels)
        assert tokens.shape == (2, 3, 32)
        for k in range(3):
            torch.testing.assert_close(tokens[:, k : k + 1], model.image_embeddings(pixels[:, k]), atol=1e-6, rtol=0)
        assert model(ids, pixel_values=pixels).image_token_count == 3


def test_temporal_embeddings_train() -> None:
    model = tiny_model(num_image_with_embedding=2).train()
    ids, pixels = _ids(2), _frames(2, 2)
    model(ids, pixel_values=pixels, labels=ids).loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.img_temporal_embedding)


def test_save_and_load_round_trip(tmp_path) -> None:
    model = tiny_model(num_image_with_embedding=3)
    _randomize_temporal(model)
    model.save_pretrained(tmp_path / "timed")
    loaded = GitLLMForCausalLM.from_pretrained(tmp_path / "timed", attn_implementation="eager").eval()
    assert loaded.config.num_image_with_embedding == 3
    ids, pixels = _ids(1), _frames(1, 3)
    with torch.no_grad():
        assert torch.equal(loaded(ids, pixel_values=pixels).logits, model(ids, pixel_values=pixels).logits)


def test_checkpoints_without_temporal_embeddings_load_unchanged(tmp_path) -> None:
    plain = tiny_model()
    plain.save_pretrained(tmp_path)
    loaded = GitLLMForCausalLM.from_pretrained(tmp_path, attn_implementation="eager").eval()
    assert loaded.config.num_image_with_embedding is None and loaded.img_temporal_embedding is None
    # Asking for temporal embeddings on such a checkpoint starts them at zero (never uninitialised memory).
    grown = GitLLMForCausalLM.from_pretrained(tmp_path, attn_implementation="eager", num_image_with_embedding=2)
    assert all(torch.equal(p, torch.zeros(1, 1, 24)) for p in grown.img_temporal_embedding)


def test_bad_frames_are_clear_errors() -> None:
    model = tiny_model(num_image_with_embedding=2)
    ids = _ids(1)
    with pytest.raises(ValueError, match="3 frames per row but the model has temporal embeddings for 2"):
        model(ids, pixel_values=_frames(1, 3))
    with pytest.raises(ValueError, match="empty frame list"):
        model(ids, pixel_values=_frames(1, 0))
    with pytest.raises(ValueError, match="image size 16x16 does not match"):
        model(ids, pixel_values=torch.randn(1, 2, 3, 16, 16))
    with pytest.raises(ValueError, match="padded frames must come after"):
        tiny_model()(ids, pixel_values=_frames(1, 3), frame_mask=torch.tensor([[1, 0, 1]]))
    with pytest.raises(ValueError, match="at least one real frame"):
        model(ids, pixel_values=_frames(1, 2), frame_mask=torch.tensor([[0, 0]]))
    with pytest.raises(ValueError, match=r"frame_mask shape \(1, 3\)"):
        model(ids, pixel_values=_frames(1, 2), frame_mask=torch.ones(1, 3))
    with pytest.raises(ValueError, match="frame_mask goes with frames"):
        model(ids, pixel_values=_frames(1, 1)[:, 0], frame_mask=torch.ones(1, 1))
    unlimited = tiny_model()  # 128 positions: 8 frames of 17 tokens do not fit, 2 real of 8 do
    with pytest.raises(ValueError, match=r"136 image tokens \+ 6 text tokens = 142 exceed .* or give fewer frames"):
        unlimited(ids, pixel_values=_frames(1, 8))
    assert unlimited(ids, pixel_values=_frames(1, 8), frame_mask=torch.tensor([[1, 1] + [0] * 6])).logits.shape[1] == 6
    with pytest.raises(ValueError, match="num_image_with_embedding must be None or >= 1"):
        tiny_model(num_image_with_embedding=0)


def test_processor_takes_image_lists_per_row() -> None:
    processor, model = tiny_processor(), tiny_model(num_image_with_embedding=2)
    colours = [Image.new("RGB", (40, 40), c) for c in ("red", "green", "blue")]
    batch = processor(images=[colours[:2], [colours[2]]], text=["w5 w6", "w7"])
    assert batch["pixel_values"].shape == (2, 2, 3, IMAGE, IMAGE)
    assert batch["frame_mask"].tolist() == [[1, 1], [1, 0]]
    alone = processor(images=[colours[2]], text=["w7"])
    with torch.no_grad():
        logits = model(**batch).logits
        torch.testing.assert_close(logits[1:, -2:], model(**alone).logits, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="empty frame list"):
        processor(images=[colours[:1], []])
    uncropped = tiny_processor()
    uncropped.image_processor.do_center_crop = False
    with pytest.raises(ValueError, match="frames of different sizes"):
        uncropped(images=[[colours[0], Image.new("RGB", (40, 60))]])
