"""Vision encoders, projections, the public mask, the processor, streaming and clear errors for bad input."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoProcessor, TextIteratorStreamer

from gitllm import GitLLMConfig, GitLLMForCausalLM, GitLLMProcessor, git_attention_mask
from gitllm.model.vision import num_image_tokens
from tiny_models import IMAGE, VISION_FAMILIES, VOCAB, random_batch, tiny_model, tiny_processor

INF = float("-inf")


def test_git_mask_equals_the_seed_example() -> None:
    expected = torch.tensor([
        [0, 0, 0, INF, INF, INF, INF],
        [0, 0, 0, INF, INF, INF, INF],
        [0, 0, 0, INF, INF, INF, INF],
        [0, 0, 0, 0, INF, INF, INF],
        [0, 0, 0, 0, 0, INF, INF],
        [0, 0, 0, 0, 0, 0, INF],
        [0, 0, 0, 0, 0, 0, 0],
    ])[None, None]
    assert torch.equal(git_attention_mask(3, 4), expected)


@pytest.mark.parametrize("vision", list(VISION_FAMILIES))
@pytest.mark.parametrize("keep_cls", [True, False])
def test_vision_encoders_plug_in(vision: str, keep_cls: bool) -> None:
    model = tiny_model("llama", vision=vision, keep_cls=keep_cls)
    batch = random_batch()
    out = model(**batch, labels=batch["input_ids"])
    expected_tokens = num_image_tokens(model.config.vision_config, keep_cls)
    assert out.image_token_count == expected_tokens == 16 + (vision != "siglip_vision_model" and keep_cls)
    assert out.logits.shape == (2, 7, VOCAB) and torch.isfinite(out.loss)
    out.loss.backward()
    assert model.visual_projection[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("projection", ["git", "mlp2x_gelu"])
def test_projections_by_id(projection: str) -> None:
    model = tiny_model(projection=projection)
    assert model(**random_batch()).logits.shape == (2, 7, VOCAB)


def test_unknown_projection_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown projection 'nope'"):
        GitLLMConfig(projection="nope")


def test_loss_counts_only_labelled_text() -> None:
    model = tiny_model()
    batch = random_batch(batch=1)
    labels = torch.full_like(batch["input_ids"], -100)
    labels[0, 4:] = batch["input_ids"][0, 4:]
    out = model(**batch, labels=labels)
    expected = torch.nn.functional.cross_entropy(out.logits[0, 3:-1], batch["input_ids"][0, 4:])
    torch.testing.assert_close(out.loss, expected)


def test_fault_unknown_forward_arguments_are_refused_and_loss_kwargs_honoured() -> None:
    """Nothing is swallowed: a typo is a TypeError naming it; `num_items_in_batch` divides the summed loss."""
    model = tiny_model()
    batch = random_batch()
    with pytest.raises(TypeError, match="labelz"):
        model(**batch, labelz=batch["input_ids"])
    mean = model(**batch, labels=batch["input_ids"])
    summed = model(**batch, labels=batch["input_ids"], num_items_in_batch=1)
    labelled = batch["input_ids"].shape[0] * (batch["input_ids"].shape[1] - 1)
    torch.testing.assert_close(summed.loss, mean.loss * labelled)
    torch.testing.assert_close(model(**batch, labels=batch["input_ids"], num_items_in_batch=torch.tensor(7)).loss,
                               mean.loss * labelled / 7)
    assert model.accepts_loss_kwargs  # what the HF Trainer reads to pass num_items_in_batch
    assert len(model.generate(**batch, max_new_tokens=2, do_sample=False, pad_token_id=0)[0]) == 2


@pytest.mark.parametrize("padding", ["left", "right"])
def test_loss_only_gives_the_same_loss_and_gradients(padding: str) -> None:
    """Answer-only labels in a padded batch: the LM head on the labelled positions only changes nothing."""
    model = tiny_model().train()
    batch = random_batch(batch=2, text_len=8)
    mask = torch.ones_like(batch["input_ids"])
    pad = slice(0, 3) if padding == "left" else slice(5, 8)
    mask[1, pad] = 0
    labels = torch.full_like(batch["input_ids"], -100)
    labels[0, 6:] = batch["input_ids"][0, 6:]
    labels[1, 3:5] = batch["input_ids"][1, 3:5] if padding == "right" else -100
    labels[1, 6:] = batch["input_ids"][1, 6:] if padding == "left" else -100
    runs = []
    for loss_only in (False, True):
        model.zero_grad()
        out = model(**batch, attention_mask=mask, labels=labels, loss_only=loss_only)
        out.loss.backward()
        runs.append((out, model.visual_projection[0].weight.grad.clone()))
    (full, full_grad), (only, only_grad) = runs
    assert only.logits is None and full.logits.shape[1] == 8
    torch.testing.assert_close(only.loss, full.loss, atol=1e-6, rtol=0)
    torch.testing.assert_close(only_grad, full_grad, atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="loss_only=True needs labels"):
        model(**batch, loss_only=True)


def test_sliding_window_is_kept_for_text() -> None:
    """Mistral, window 6, 2 layers: a text token more than 2 x 5 positions back cannot reach the last one."""
    model = tiny_model("mistral")
    batch = random_batch(batch=1, text_len=20)
    changed = batch["input_ids"].clone()
    changed[0, 0] = (changed[0, 0] + 5) % VOCAB
    with torch.no_grad():
        before, after = model(**batch).logits, model(pixel_values=batch["pixel_values"], input_ids=changed).logits
    assert torch.equal(before[0, -1], after[0, -1])
    assert not torch.equal(before[0, 1], after[0, 1])


def test_processor_saves_loads_and_drives_generation_with_streaming(tmp_path) -> None:
    processor = tiny_processor()
    model = tiny_model()
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8))
    inputs = processor(images=[image, image], text=["w1 w2 w3", "w4"])
    assert inputs["pixel_values"].shape == (2, 3, IMAGE, IMAGE)
    assert inputs["attention_mask"].tolist() == [[1, 1, 1, 1], [0, 0, 1, 1]]

    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded, GitLLMProcessor)
    assert torch.equal(loaded(images=[image], text=["w1"])["pixel_values"], processor(images=[image])["pixel_values"])

    streamer = TextIteratorStreamer(loaded.tokenizer, skip_special_tokens=True)
    single = processor(images=[image], text=["w1 w2"])
    kwargs = dict(**single, max_new_tokens=6, min_new_tokens=6, do_sample=False, pad_token_id=0)
    thread = threading.Thread(target=model.generate, kwargs={**kwargs, "streamer": streamer})
    thread.start()
    streamed = "".join(streamer)
    thread.join()
    direct = model.generate(**kwargs)
    assert streamed.split() == loaded.tokenizer.decode(direct[0], skip_special_tokens=True).split()


def test_sampling_runs_and_is_seeded() -> None:
    model = tiny_model()
    batch = random_batch()
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        runs.append(model.generate(**batch, do_sample=True, top_k=20, max_new_tokens=5, min_new_tokens=5,
                                   pad_token_id=0))
    assert torch.equal(runs[0], runs[1]) and runs[0].shape == (2, 5)


def test_bad_input_is_a_clear_value_error() -> None:
    model = tiny_model()
    batch = random_batch()
    with pytest.raises(ValueError, match="batch sizes differ"):
        model(pixel_values=batch["pixel_values"][:1], input_ids=batch["input_ids"])
    with pytest.raises(ValueError, match="image size 48x48 does not match"):
        model(pixel_values=torch.randn(2, 3, 48, 48), input_ids=batch["input_ids"])
    with pytest.raises(ValueError, match="exceed the LLM's maximum of 128 positions"):
        model(pixel_values=batch["pixel_values"], input_ids=torch.ones(2, 120, dtype=torch.long))
    with pytest.raises(ValueError, match="at least one text token"):
        model.generate(**batch, attention_mask=torch.zeros(2, 7, dtype=torch.long), max_new_tokens=2)
    with pytest.raises(ValueError, match="cannot express the GIT mask"):
        GitLLMForCausalLM.from_pretrained_parts("vision", "llm", attn_implementation="flash_attention_2")


def test_flash_attention_is_refused_when_loading(tmp_path) -> None:
    tiny_model().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="flash"):
        GitLLMForCausalLM.from_pretrained(tmp_path, attn_implementation="flash_attention_2")
