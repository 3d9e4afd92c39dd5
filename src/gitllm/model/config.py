"""`GitLLMConfig`: a vision sub-config, a text (causal LM) sub-config and how to join them."""

from __future__ import annotations

from typing import Any

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PretrainedConfig
from transformers.configuration_utils import SubConfigSpec

from gitllm.model.projection import NEEDS_CLS, PROJECTIONS


@strict
class GitLLMConfig(PretrainedConfig):
    """Configuration of a GIT-style vision-language model.

    Args:
        vision_config: config of an unmodified HF vision model (CLIP/SigLIP vision, DINOv2, ViT, ...).
        text_config: config of an unmodified HF causal LM (Llama, OPT, MPT, GPT-2, GPT-NeoX, Qwen2, Mistral, ...).
        projection: id in `gitllm.model.projection.PROJECTIONS` (`git` = Linear + LayerNorm, as GIT).
        keep_cls: keep the vision CLS token(s) among the image tokens (GIT-LLM keeps it).
        vision_feature_layer: which vision hidden state to project; -1 is the encoder's final output.
        prefix_token_ids: LM token ids placed before the image (e.g. BOS), causal: each sees only the prefix
            before it, while image and text attend to them. A pretrained LM parks its attention sink on its
            first position; a prefix takes that place, so the image is read instead of sunk. Empty: pure GIT.
        num_image_with_embedding: frames per row that get a learnt temporal embedding (HF GIT's field of the
            same name; `img_temporal_embedding` holds one zero-initialised (1, 1, vision hidden) parameter per
            frame). More frames per row are then a ValueError. None: no temporal embeddings (frames still
            work, ordered by their positions alone).
        projection_layer_norm_eps: epsilon of the projection's LayerNorm(s) (GIT and heron use the vision
            encoder's `layer_norm_eps`; CLIP's is the default 1e-5).
        image_positions: True: positions run over prefix, image and text tokens. False (heron's GitOPT): image
            tokens take no position embedding and do not advance the position count, so the text's positions
            start right after the prefix; needs an LLM with a learned position table (OPT, see `LMAdapter`).
    """

    model_type = "gitllm"
    sub_configs_defaults = {
        "vision_config": SubConfigSpec(config_class=AutoConfig, model_type="clip_vision_model"),
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="llama"),
    }

    vision_config: dict | PretrainedConfig | None = None
    text_config: dict | PretrainedConfig | None = None
    projection: str = "git"
    keep_cls: bool = True
    vision_feature_layer: int = -1
    prefix_token_ids: list[int] | None = None
    num_image_with_embedding: int | None = None
    projection_layer_norm_eps: float = 1e-5
    image_positions: bool = True

    def __post_init__(self, **kwargs: Any) -> None:
        # An empty dict keeps each half's own attention implementation (None would reset both halves).
        kwargs.setdefault("attn_implementation", {})
        super().__post_init__(**kwargs)
        if self.projection not in PROJECTIONS:
            raise ValueError(f"unknown projection {self.projection!r}; known: {sorted(PROJECTIONS)}")
        if self.projection in NEEDS_CLS and not self.keep_cls:
            raise ValueError(f"projection {self.projection!r} reads the CLS token: set keep_cls=True")
        if self.num_image_with_embedding is not None and self.num_image_with_embedding < 1:
            raise ValueError(f"num_image_with_embedding must be None or >= 1, not {self.num_image_with_embedding}")
        self.prefix_token_ids = list(self.prefix_token_ids or [])
        vocab = getattr(self.text_config, "vocab_size", None)
        if vocab is not None and not all(0 <= i < vocab for i in self.prefix_token_ids):
            raise ValueError(f"prefix_token_ids {self.prefix_token_ids} must be token ids of the LLM (0..{vocab - 1})")
