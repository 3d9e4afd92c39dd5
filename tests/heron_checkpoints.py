"""Tiny heron-format GIT-LLM checkpoints, and heron's forward re-implemented from its code, for the convert tests.

The checkpoints follow turingmotors/heron (`heron/models/git_llm/*/modeling_git_*.py`, transformers 4.38): its
config.json is the LLM's 4.38 config plus `model_type` git_*, `vision_model_name`, `num_image_with_embedding`
and the `vision_config` dict its `to_dict` writes; its weights sit under heron's names (`<base>image_encoder.`
a CLIPVisionModel, `<base>visual_projection.visual_projection.{0,1}`, OPT's own `model.embed_positions`,
GPT-NeoX's head `embed_out`). `heron_logits` is heron's forward written out here, independent of gitllm.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, CLIPVisionConfig, PreTrainedModel

VOCAB = 96
IMAGE = 32
VISION = dict(hidden_size=24, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, image_size=IMAGE,
              patch_size=8, layer_norm_eps=1e-6)
IDS = dict(vocab_size=VOCAB, pad_token_id=0, bos_token_id=1, eos_token_id=2)

# The LLM part of heron's config.json, as transformers 4.38 wrote it.
HERON_TEXT: dict[str, dict] = {
    "git_llama": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, hidden_act="silu", max_position_embeddings=128, rms_norm_eps=1e-6,
                      rope_theta=10000.0, rope_scaling=None, attention_bias=False, pretraining_tp=1,
                      tie_word_embeddings=False, **IDS),
    "git_opt": dict(hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4, word_embed_proj_dim=32,
                    max_position_embeddings=128, do_layer_norm_before=True, _remove_final_layer_norm=False,
                    activation_function="relu", enable_bias=True, **IDS),
    "git_mpt": dict(d_model=32, n_heads=4, n_layers=2, expansion_ratio=2, max_seq_len=128, no_bias=True,
                    attn_config={"alibi": True, "alibi_bias_max": 8, "attn_impl": "torch", "attn_type":
                                 "multihead_attention", "clip_qkv": None, "softmax_scale": None, "qk_ln": False},
                    **IDS),
    "git_gpt_neox": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         max_position_embeddings=128, rotary_pct=0.25, rotary_emb_base=10000,
                         use_parallel_residual=True, tie_word_embeddings=False, **IDS),
}
TEXT_TYPE = {"git_llama": "llama", "git_opt": "opt", "git_mpt": "mpt", "git_gpt_neox": "gpt_neox"}
ARCHITECTURE = {"git_llama": "GitLlamaForCausalLM", "git_opt": "GitOPTForCausalLM", "git_mpt": "GitMptForCausalLM",
                "git_gpt_neox": "GitGPTNeoXForCausalLM"}
BASE = {"git_llama": "model.", "git_opt": "model.", "git_mpt": "transformer.", "git_gpt_neox": "gpt_neox."}


@dataclass
class HeronParts:
    """The modules behind a heron checkpoint: the CLIP tower, heron's projection, the LLM and (OPT) heron's table."""

    model_type: str
    vision: PreTrainedModel
    projection: nn.Sequential
    lm: PreTrainedModel
    positions: nn.Embedding | None


def _jitter_norms(module: nn.Module, generator: torch.Generator) -> None:
    """Move every norm's gain and bias off 1 / 0, so a norm applied or skipped shows in the outputs."""
    with torch.no_grad():
        for sub in module.modules():
            if "Norm" in type(sub).__name__:
                for param in sub.parameters(recurse=False):
                    param.add_(0.3 * torch.randn(param.shape, generator=generator))


def build_parts(model_type: str, seed: int = 0) -> HeronParts:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed + 100)
    vision = AutoModel.from_config(CLIPVisionConfig(**VISION), attn_implementation="eager").eval()
    text_config = AutoConfig.for_model(TEXT_TYPE[model_type], **HERON_TEXT[model_type])
    lm = AutoModelForCausalLM.from_config(text_config, attn_implementation="eager").eval()
    hidden = lm.get_input_embeddings().embedding_dim
    projection = nn.Sequential(nn.Linear(VISION["hidden_size"], hidden), nn.LayerNorm(hidden, eps=1e-6))
    positions = None
    if model_type == "git_opt":
        positions = nn.Embedding(text_config.max_position_embeddings + 2, hidden)
    for module in (vision, lm, projection):
        _jitter_norms(module, generator)
    return HeronParts(model_type, vision, projection, lm, positions)


def heron_state_dict(parts: HeronParts) -> dict[str, torch.Tensor]:
    """The parts under heron's key names, with the non-learned buffers transformers 4.38 could save."""
    base = BASE[parts.model_type]
    state = {f"{base}image_encoder.vision_model.{k}": v for k, v in parts.vision.state_dict().items()}
    state[f"{base}image_encoder.vision_model.embeddings.position_ids"] = torch.arange(17)[None]
    projection = parts.projection.state_dict()
    state.update({f"{base}visual_projection.visual_projection.{k}": v for k, v in projection.items()})
    for key, value in parts.lm.state_dict().items():
        if parts.model_type == "git_gpt_neox" and key.startswith("lm_head."):
            key = "embed_out." + key[len("lm_head."):]
        state[key] = value
    if parts.model_type == "git_llama":
        state["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.ones(4)
    if parts.positions is not None:
        state["model.embed_positions.weight"] = parts.positions.weight
    return {k: v.detach().clone().contiguous() for k, v in state.items()}


def heron_config(parts: HeronParts, vision_model_name: str, frames: int | None = None) -> dict:
    """config.json as heron's `to_dict` writes it (private attributes included)."""
    return {
        **HERON_TEXT[parts.model_type],
        "_name_or_path": "heron/output/checkpoint",
        "architectures": [ARCHITECTURE[parts.model_type]],
        "model_type": parts.model_type,
        "transformers_version": "4.38.1",
        "torch_dtype": "float32",
        "vision_model_name": vision_model_name,
        "num_image_with_embedding": frames,
        "vision_config": parts.vision.config.to_dict(),
    }


def write_checkpoint(folder: Path, parts: HeronParts, state: dict[str, torch.Tensor] | None = None,
                     fmt: str = "safetensors", vision_model_name: str | None = None, frames: int | None = None) -> Path:
    """Write a heron checkpoint folder; the CLIP config also goes to `folder/clip` (the default vision_model_name)."""
    folder.mkdir(parents=True, exist_ok=True)
    clip = folder / "clip"
    parts.vision.config.save_pretrained(clip)
    config = heron_config(parts, vision_model_name or str(clip), frames)
    (folder / "config.json").write_text(json.dumps(config))
    state = heron_state_dict(parts) if state is None else state
    if fmt == "safetensors":
        save_file(state, folder / "model.safetensors")
    elif fmt == "bin":
        torch.save(state, folder / "pytorch_model.bin")
    else:  # two .bin shards with their index, as save_pretrained writes large models
        keys = sorted(state)
        shards = {"pytorch_model-00001-of-00002.bin": keys[::2], "pytorch_model-00002-of-00002.bin": keys[1::2]}
        for name, shard_keys in shards.items():
            torch.save({k: state[k] for k in shard_keys}, folder / name)
        index = {"weight_map": {k: name for name, shard_keys in shards.items() for k in shard_keys}}
        (folder / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    return folder


def heron_mask(num_image: int, attention_mask: torch.Tensor) -> torch.Tensor:
    """Heron's `create_attention_mask` + `_expand_mask`: (B, 1, N+T, N+T) additive; image rows see the image
    only, text rows see the image and earlier text, padded text is masked as a key for text rows."""
    batch, text_len = attention_mask.shape
    length = num_image + text_len
    mask = torch.zeros(length, length)
    mask[:num_image, num_image:] = float("-inf")
    mask[num_image:, num_image:] = torch.triu(torch.full((text_len, text_len), float("-inf")), diagonal=1)
    mask = mask.expand(batch, 1, length, length).clone()
    padding = (1.0 - attention_mask.float())[:, None, None, :] * torch.finfo(torch.float32).min
    mask[:, :, num_image:, num_image:] += padding
    return mask


def _hidden(out: torch.Tensor | tuple) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out


@torch.no_grad()
def heron_logits(parts: HeronParts, pixel_values: torch.Tensor, input_ids: torch.Tensor,
                 attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Heron's GitXForCausalLM forward (no cache), text logits (B, T, V); layout `[image][text]`."""
    attention_mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
    features = parts.vision(pixel_values).last_hidden_state  # CLS kept, no post_layernorm
    image = parts.projection(features)
    num_image, text_len = image.shape[1], input_ids.shape[1]
    mask = heron_mask(num_image, attention_mask)
    lm = parts.lm
    positions = torch.arange(num_image + text_len)[None]  # GitLlama / GitGPTNeoX: image and text counted together
    if parts.model_type == "git_llama":
        hidden = torch.cat([image, lm.model.embed_tokens(input_ids)], dim=1)
        rotary = lm.model.rotary_emb(hidden, positions)
        for layer in lm.model.layers:
            hidden = _hidden(layer(hidden, attention_mask=mask, position_ids=positions, position_embeddings=rotary))
        hidden = lm.model.norm(hidden)
    elif parts.model_type == "git_gpt_neox":
        hidden = torch.cat([image, lm.gpt_neox.embed_in(input_ids)], dim=1)
        rotary = lm.gpt_neox.rotary_emb(hidden, position_ids=positions)
        for layer in lm.gpt_neox.layers:
            hidden = _hidden(layer(hidden, attention_mask=mask, position_ids=positions, position_embeddings=rotary))
        hidden = lm.gpt_neox.final_layer_norm(hidden)
    elif parts.model_type == "git_opt":
        # OPTLearnedPositionalEmbedding(attention_mask): text positions from 0 over the text mask, offset 2;
        # image tokens get no position embedding.
        text_positions = (attention_mask.cumsum(1) * attention_mask - 1).long()
        text = lm.model.decoder.embed_tokens(input_ids) + parts.positions(text_positions + 2)
        hidden = torch.cat([image, text], dim=1)
        for layer in lm.model.decoder.layers:
            hidden = _hidden(layer(hidden, attention_mask=mask))
        hidden = lm.model.decoder.final_layer_norm(hidden)
    else:  # git_mpt: ALiBi over the key index, boolean mask (True = masked)
        hidden = torch.cat([image, lm.transformer.wte(input_ids)], dim=1)
        alibi = lm.transformer.build_mpt_alibi_tensor(lm.config.n_heads, lm.config.max_seq_len)
        for block in lm.transformer.blocks:
            hidden = _hidden(block(hidden, position_bias=alibi, attention_mask=mask != 0))
        hidden = lm.transformer.norm_f(hidden)
    return lm.lm_head(hidden)[:, num_image:]


def heron_greedy(parts: HeronParts, pixel_values: torch.Tensor, input_ids: torch.Tensor,
                 steps: int) -> tuple[list[int], list[torch.Tensor]]:
    """Greedy continuation of ONE unpadded row by full recomputation (no cache), stopping after EOS: the new
    tokens and each step's next-token logits (V,)."""
    ids, new, step_logits = input_ids, [], []
    for _ in range(steps):
        logits = heron_logits(parts, pixel_values, ids)[0, -1]
        token = int(logits.argmax())
        new.append(token)
        step_logits.append(logits)
        if token == IDS["eos_token_id"]:
            break
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return new, step_logits
