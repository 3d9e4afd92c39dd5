"""Tiny random models per LLM family and per vision family, built from configs (no network)."""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, PretrainedConfig

from gitllm import GitLLMConfig, GitLLMForCausalLM

VOCAB = 96
IMAGE = 32

LLM_FAMILIES: dict[str, dict[str, Any]] = {
    "llama": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=128),
    "opt": dict(hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4, word_embed_proj_dim=32,
                max_position_embeddings=128),
    "mpt": dict(d_model=32, n_heads=4, n_layers=2, expansion_ratio=2, max_seq_len=128),
    "gpt2": dict(n_embd=32, n_layer=2, n_head=4, n_positions=128),
    "gpt_neox": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                     max_position_embeddings=128),
    "qwen2": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=128, use_sliding_window=True, sliding_window=6,
                  max_window_layers=1),
    "mistral": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, max_position_embeddings=128, sliding_window=6),
    "gemma": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=8, max_position_embeddings=128),
    "gemma2": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, head_dim=8, max_position_embeddings=128, sliding_window=6),
    "gemma3_text": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                        num_key_value_heads=2, head_dim=8, max_position_embeddings=128, sliding_window=6,
                        layer_types=["sliding_attention", "full_attention"]),
}

VISION_FAMILIES: dict[str, dict[str, Any]] = {
    "clip_vision_model": dict(hidden_size=24, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                              image_size=IMAGE, patch_size=8),
    "siglip_vision_model": dict(hidden_size=24, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                                image_size=IMAGE, patch_size=8),
    "dinov2": dict(hidden_size=24, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2, image_size=IMAGE,
                   patch_size=8),
    "vit": dict(hidden_size=24, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                image_size=IMAGE, patch_size=8),
}


def text_config(family: str) -> PretrainedConfig:
    """A tiny causal-LM config of `family` with a shared toy vocabulary (pad 0, bos 1, eos 2)."""
    return AutoConfig.for_model(family, vocab_size=VOCAB, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                                **LLM_FAMILIES[family])


def vision_config(family: str = "clip_vision_model") -> PretrainedConfig:
    return AutoConfig.for_model(family, **VISION_FAMILIES[family])


def tiny_model(llm: str = "llama", vision: str = "clip_vision_model", attn: str = "eager", seed: int = 0,
               **config_kwargs: Any) -> GitLLMForCausalLM:
    """A random GIT-LLM in eval mode; same seed -> same weights."""
    torch.manual_seed(seed)
    vision_model = AutoModel.from_config(vision_config(vision), attn_implementation="eager")
    language_model = AutoModelForCausalLM.from_config(text_config(llm), attn_implementation=attn)
    config = GitLLMConfig(vision_config=vision_model.config, text_config=language_model.config, **config_kwargs)
    return GitLLMForCausalLM(config, vision_model=vision_model, language_model=language_model).eval()


def random_batch(batch: int = 2, text_len: int = 7, seed: int = 1) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "pixel_values": torch.randn(batch, 3, IMAGE, IMAGE, generator=generator),
        "input_ids": torch.randint(3, VOCAB, (batch, text_len), generator=generator),
    }


def tiny_tokenizer():
    """A word-level tokenizer over the toy vocabulary: ids 0-2 are <pad>, <s>, </s>; adds BOS."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "<s>", "</s>", "<unk>"] + [f"w{i}" for i in range(VOCAB - 4)]
    backend = Tokenizer(models.WordLevel({word: i for i, word in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>")


def tiny_processor():
    from transformers import CLIPImageProcessor

    from gitllm import GitLLMProcessor

    image_processor = CLIPImageProcessor(size={"shortest_edge": IMAGE}, crop_size={"height": IMAGE, "width": IMAGE})
    return GitLLMProcessor(image_processor, tiny_tokenizer())
