"""`gitllm convert heron` / `from_heron`: heron GIT-LLM checkpoints compute in gitllm what they compute in heron."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from gitllm import GitLLMForCausalLM, GitLLMProcessor
from gitllm.cli import main
from gitllm.convert import from_heron, heron_processor
from heron_checkpoints import (
    IDS, IMAGE, VOCAB, build_parts, heron_greedy, heron_logits, heron_state_dict, write_checkpoint,
)
from tiny_models import tiny_tokenizer

FAMILIES = ["git_llama", "git_opt", "git_mpt", "git_gpt_neox"]


def _inputs(batch: int = 2, text_len: int = 6, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randn(batch, 3, IMAGE, IMAGE, generator=generator)
    return pixels, torch.randint(3, VOCAB, (batch, text_len), generator=generator)


def _left_padded(input_ids: torch.Tensor, pads: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row 1 shortened by `pads` tokens, padded on the left."""
    ids, mask = input_ids.clone(), torch.ones_like(input_ids)
    ids[1, :pads], mask[1, :pads] = IDS["pad_token_id"], 0
    return ids, mask


@pytest.mark.parametrize("model_type", FAMILIES)
def test_converted_model_computes_herons_logits(tmp_path: Path, model_type: str) -> None:
    parts = build_parts(model_type)
    model = from_heron(write_checkpoint(tmp_path, parts), attn_implementation="eager")
    pixels, input_ids = _inputs()
    with torch.no_grad():
        logits = model(pixel_values=pixels, input_ids=input_ids).logits
    torch.testing.assert_close(logits, heron_logits(parts, pixels, input_ids), atol=1e-5, rtol=0)

    # A left-padded batch: each row equals heron's answer for that row unpadded.
    ids, mask = _left_padded(input_ids, 2)
    with torch.no_grad():
        padded = model(pixel_values=pixels, input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(padded[1:, 2:], heron_logits(parts, pixels[1:], input_ids[1:, 2:]), atol=1e-5, rtol=0)


def test_conversion_reproduces_heron_settings(tmp_path: Path) -> None:
    """CLS kept, CLIP's last_hidden_state (no post_layernorm), the vision layer_norm_eps in the projection."""
    parts = build_parts("git_llama")
    model = from_heron(write_checkpoint(tmp_path, parts))
    assert model.config.keep_cls and model.config.vision_feature_layer == -1 and model.config.image_positions
    assert model.visual_projection[1].eps == parts.vision.config.layer_norm_eps == 1e-6
    pixels, _ = _inputs()
    with torch.no_grad():
        features = model.encode_images(pixels)
        torch.testing.assert_close(features, parts.vision(pixels).last_hidden_state)
        assert features.shape[1] == (IMAGE // 8) ** 2 + 1
        post_norm = parts.vision.post_layernorm(parts.vision(pixels).last_hidden_state)
    assert (features - post_norm).abs().max() > 0.1


def test_opt_images_take_no_position_and_text_restarts_at_zero(tmp_path: Path) -> None:
    parts = build_parts("git_opt")
    model = from_heron(write_checkpoint(tmp_path, parts), attn_implementation="eager")
    pixels, input_ids = _inputs(text_len=5)
    ids, mask = _left_padded(input_ids, 2)
    packed = model.pack_inputs(ids, mask, pixels)
    num_image = packed.inputs_embeds.shape[1] - ids.shape[1]
    image = packed.block_ids == 0
    assert bool((packed.position_ids[image] == model.lm_adapter.unpositioned_id).all())
    assert packed.position_ids[0, -5:].tolist() == [0, 1, 2, 3, 4]
    assert packed.position_ids[1, -3:].tolist() == [0, 1, 2]

    # The table row image tokens index is zero: they get exactly their projected embedding.
    table = model.language_model.model.decoder.embed_positions
    assert not table.weight[0].any() and parts.positions.weight[0].any()

    # Heron's OPT is padding-invariant too: the left-padded batch equals heron on the same padded batch.
    with torch.no_grad():
        logits = model(pixel_values=pixels, input_ids=ids, attention_mask=mask).logits
        torch.testing.assert_close(logits[:, 2:], heron_logits(parts, pixels, ids, mask)[:, 2:], atol=1e-5, rtol=0)

        # Text positions stop at T - 1: rows past the text change nothing (joint numbering would read rows
        # 2 + N ... 2 + N + T - 1 instead) ...
        base = model(pixel_values=pixels, input_ids=input_ids).logits
        generator = torch.Generator().manual_seed(5)
        table.weight[2 + input_ids.shape[1]:] += torch.randn(table.weight[2 + input_ids.shape[1]:].shape,
                                                            generator=generator)
        assert torch.equal(model(pixel_values=pixels, input_ids=input_ids).logits, base)
        # ... and heron's table, not OPT's own, positions the text: its row 2 is text position 0.
        table.weight[2] += torch.randn(table.weight.shape[1], generator=generator)
        assert (model(pixel_values=pixels, input_ids=input_ids).logits[:, 0] - base[:, 0]).abs().max() > 1e-3
    assert num_image == (IMAGE // 8) ** 2 + 1

    # Training keeps the unpositioned row at zero.
    model.train()
    model(pixel_values=pixels, input_ids=input_ids, labels=input_ids).loss.backward()
    assert table.weight.grad[2].any() and not table.weight.grad[0].any()


def test_image_positions_false_needs_a_learned_position_table() -> None:
    from tiny_models import tiny_model

    with pytest.raises(ValueError, match="learned position table"):
        tiny_model("llama", image_positions=False)


@pytest.mark.parametrize("model_type", FAMILIES)
def test_cached_generation_batched_left_padded_answers_like_heron(tmp_path: Path, model_type: str) -> None:
    parts = build_parts(model_type, seed=3)
    model = from_heron(write_checkpoint(tmp_path, parts), attn_implementation="eager")
    pixels, input_ids = _inputs(text_len=5, seed=4)
    ids, mask = _left_padded(input_ids, 2)
    out = model.generate(input_ids=ids, attention_mask=mask, pixel_values=pixels, max_new_tokens=4, do_sample=False,
                         return_dict_in_generate=True, output_logits=True)
    rows = [input_ids[0:1], input_ids[1:2, 2:]]
    for row, text in enumerate(rows):
        expected, expected_logits = heron_greedy(parts, pixels[row:row + 1], text, steps=4)
        generated = out.sequences[row].tolist()
        assert generated[: len(expected)] == expected
        assert all(token == IDS["pad_token_id"] for token in generated[len(expected):])
        for step, logits in enumerate(expected_logits):  # every cached decoding step, not only its argmax
            torch.testing.assert_close(out.logits[step][row], logits, atol=1e-4, rtol=0)


@pytest.mark.parametrize("fmt", ["safetensors", "bin", "sharded"])
def test_weight_formats(tmp_path: Path, fmt: str) -> None:
    parts = build_parts("git_gpt_neox")
    model = from_heron(write_checkpoint(tmp_path, parts, fmt=fmt))
    torch.testing.assert_close(model.language_model.lm_head.weight, parts.lm.lm_head.weight)


def test_checkpoint_dtype_is_kept(tmp_path: Path) -> None:
    parts = build_parts("git_llama")
    state = {k: v.half() if v.is_floating_point() else v for k, v in heron_state_dict(parts).items()}
    model = from_heron(write_checkpoint(tmp_path, parts, state=state))
    assert {p.dtype for p in model.parameters()} == {torch.float16}


def test_round_trip_and_auto_model(tmp_path: Path) -> None:
    parts = build_parts("git_opt")
    model = from_heron(write_checkpoint(tmp_path / "heron", parts))
    model.save_pretrained(tmp_path / "out")
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "out").eval()
    assert isinstance(loaded, GitLLMForCausalLM)
    assert not loaded.config.image_positions and loaded.config.projection_layer_norm_eps == 1e-6
    pixels, input_ids = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(loaded(pixel_values=pixels, input_ids=input_ids).logits,
                                   model(pixel_values=pixels, input_ids=input_ids).logits)
    assert not loaded.language_model.model.decoder.embed_positions.weight[0].any()


def test_cli_converts_with_processor(tmp_path: Path) -> None:
    parts = build_parts("git_llama")
    src = write_checkpoint(tmp_path / "heron", parts)
    tiny_tokenizer().save_pretrained(src)
    assert main(["convert", "heron", str(src), str(tmp_path / "out")]) == 0
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out").eval()
    processor = GitLLMProcessor.from_pretrained(tmp_path / "out")
    from PIL import Image

    inputs = processor(images=[Image.new("RGB", (40, 48), "red")], text=["w5 w6"])
    assert inputs["pixel_values"].shape[-2:] == (IMAGE, IMAGE)
    with torch.no_grad():
        logits = model(**inputs).logits
    torch.testing.assert_close(logits, heron_logits(parts, inputs["pixel_values"], inputs["input_ids"]),
                               atol=1e-5, rtol=0)


def test_processor_needs_a_tokenizer_in_src(tmp_path: Path) -> None:
    src = write_checkpoint(tmp_path, build_parts("git_llama"))
    assert heron_processor(src) is None


def test_vision_config_sources(tmp_path: Path) -> None:
    """vision_model_name when readable, else --vision-config, else the copy in config.json, else a clear error."""
    parts = build_parts("git_mpt")
    src = write_checkpoint(tmp_path / "heron", parts, vision_model_name="openai/clip-vit-large-patch14")
    assert from_heron(src).config.vision_config.hidden_size == parts.vision.config.hidden_size  # config.json copy
    config = json.loads((src / "config.json").read_text())
    del config["vision_config"]
    (src / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="--vision-config"):
        from_heron(src)
    model = from_heron(src, vision_config=str(src / "clip"))
    assert model.config.vision_config.layer_norm_eps == 1e-6


def test_unknown_and_missing_keys_are_listed(tmp_path: Path) -> None:
    parts = build_parts("git_llama")
    state = heron_state_dict(parts)
    state["vision.surprise.weight"] = torch.zeros(2)
    state["lm_head.bias"] = torch.zeros(VOCAB)
    with pytest.raises(ValueError, match=r"1 unknown heron keys: \['vision\.surprise\.weight'\]"):
        from_heron(write_checkpoint(tmp_path / "unknown", parts, state=state))
    del state["vision.surprise.weight"]
    with pytest.raises(ValueError, match=r"unexpected_keys.*language_model\.lm_head\.bias"):
        from_heron(write_checkpoint(tmp_path / "unexpected", parts, state=state))

    state = heron_state_dict(parts)
    state["model.layers.0.self_attn.q_proj.lora_A.weight"] = torch.zeros(2)
    with pytest.raises(ValueError, match="unmerged LoRA"):
        from_heron(write_checkpoint(tmp_path / "lora", parts, state=state))

    state = heron_state_dict(parts)
    del state["model.layers.1.mlp.up_proj.weight"]
    with pytest.raises(ValueError, match=r"missing_keys.*language_model\.model\.layers\.1\.mlp\.up_proj\.weight"):
        from_heron(write_checkpoint(tmp_path / "missing", parts, state=state))


def test_tied_head_must_equal_the_embeddings(tmp_path: Path) -> None:
    parts = build_parts("git_opt")
    state = heron_state_dict(parts)
    state["lm_head.weight"] = state["lm_head.weight"] + 1.0
    with pytest.raises(ValueError, match="ties the LM head"):
        from_heron(write_checkpoint(tmp_path, parts, state=state))


def test_opt_with_project_in_is_refused(tmp_path: Path) -> None:
    parts = build_parts("git_opt")
    src = write_checkpoint(tmp_path, parts)
    config = json.loads((src / "config.json").read_text())
    config["word_embed_proj_dim"] = 16
    (src / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="project_in"):
        from_heron(src)


def test_not_a_heron_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="config.json"):
        from_heron(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ValueError, match="not a heron GIT-LLM"):
        from_heron(tmp_path)


def test_temporal_embeddings_are_imported(tmp_path: Path) -> None:
    parts = build_parts("git_llama")
    state = heron_state_dict(parts)
    temporal = [torch.randn(1, 1, 24) for _ in range(2)]
    state.update({f"model.img_temporal_embedding.{i}": t for i, t in enumerate(temporal)})
    model = from_heron(write_checkpoint(tmp_path, parts, state=state, frames=2))
    assert model.config.num_image_with_embedding == 2
    for param, expected in zip(model.img_temporal_embedding, temporal):
        torch.testing.assert_close(param.detach(), expected)
