"""`GitLLMForCausalLM`: vision encoder -> visual projection -> image embeddings before the text of a causal LM.

Sequence layout inside the LM (per row): `[text padding][image x N][text]`, positions counted over
non-padding tokens (image tokens only if `config.image_positions`), so a padded row equals its unpadded run.
The GIT mask: image positions attend to all image positions and no text; text positions attend to every
image position and causally to text; padding is never attended. Several images per row (frames,
`gitllm.model.frames`) put their tokens one frame after another into the same single image block; padded
frames are padding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    GenerationMixin,
    PreTrainedModel,
)
from transformers.utils import ModelOutput

from gitllm.model.config import GitLLMConfig
from gitllm.model.frames import add_temporal_embeddings, check_frames, frame_token_mask, temporal_embeddings
from gitllm.model.head_layout import DecodeHead
from gitllm.model.kv_cache import GrowingCache
from gitllm.model.lm_adapter import LMAdapter, check_attention_implementation, word_embedding_std
from gitllm.model.projection import build_projection, set_output_scale
from gitllm.model.quiet import quiet_loading
from gitllm.model.vision import check_pixel_values, encode_images


@dataclass
class GitLLMOutput(ModelOutput):
    """loss: mean next-token cross-entropy over labelled text tokens; logits (B, T, V) for the text positions
    only, aligned with `input_ids`; hidden_states: the LM's hidden states over the full `[pad][image][text]`
    layout (when asked); image_token_count: N, the image positions of a row (F x N' for F frames of N' tokens,
    padded frames included)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    image_token_count: int | None = None


@dataclass
class PackedInputs:
    """The LM-side inputs of one batch, in the `[pad][prefix][image][text]` layout (L = P + N + T; P = 0
    unless `config.prefix_token_ids`).

    inputs_embeds (B, L, D); attention_mask (B, L) padding mask; position_ids (B, L);
    block_ids (B, L) 0 on image positions, -1 elsewhere; text_mask (B, T) the text padding mask, left-padded;
    text_order (B, T) the permutation that moved each row's text padding to the left (None when the text
    was already left-padded). Text token j (left-padded order) sits at position P + N + j when it is real."""

    inputs_embeds: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    block_ids: torch.Tensor
    text_mask: torch.Tensor
    text_order: torch.Tensor | None


def _has_frames(pixel_values: torch.Tensor | None, vision_features: torch.Tensor | None) -> bool:
    """Whether the images come as frames: pixel_values (B, F, C, H, W) or vision_features (B, F, N, Dv)."""
    if pixel_values is not None:
        return pixel_values.ndim == 5
    return vision_features is not None and vision_features.ndim == 4


def _left_pad_order(attention_mask: torch.Tensor) -> torch.Tensor | None:
    """Per-row permutation (B, T) moving padding to the left, keeping token order; None if already so."""
    if bool((attention_mask[:, :-1] <= attention_mask[:, 1:]).all()):
        return None
    return torch.argsort(attention_mask, dim=1, stable=True)


class GitLLMPreTrainedModel(PreTrainedModel):
    config: GitLLMConfig
    config_class = GitLLMConfig
    base_model_prefix = ""
    input_modalities = ("image", "text")
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flex_attn = True
    _supports_flash_attn = False
    _supports_attention_backend = False

    def _init_weights(self, module: nn.Module) -> None:
        """Only the projection is ours to initialise; the two halves keep their own init (or weights)."""
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif module is getattr(self, "img_temporal_embedding", None):
            for parameter in module:
                nn.init.zeros_(parameter)


class GitLLMForCausalLM(GitLLMPreTrainedModel, GenerationMixin):
    """A GIT-style VLM. Children (external code relies on these names): `.vision_model` (an unmodified HF
    vision model), `.visual_projection`, `.language_model` (an unmodified HF causal LM), and with
    `config.num_image_with_embedding` `.img_temporal_embedding` (HF GIT's name and layout: a ParameterList of
    that many (1, 1, vision_hidden) tensors, frame k's added to its vision features before the projection)."""

    accepts_loss_kwargs = True  # forward honours the Trainer's `num_items_in_batch`

    def __init__(
        self,
        config: GitLLMConfig,
        vision_model: PreTrainedModel | None = None,
        language_model: PreTrainedModel | None = None,
    ) -> None:
        super().__init__(config)
        # Contract: both halves are present in the config; the LM is a causal decoder.
        assert config.vision_config is not None and config.text_config is not None, "GitLLMConfig needs both halves"
        self.vision_model = vision_model or AutoModel.from_config(config.vision_config)
        self.language_model = language_model or AutoModelForCausalLM.from_config(config.text_config)
        self.visual_projection = build_projection(
            config.projection,
            config.vision_config.hidden_size,
            self.language_model.get_input_embeddings().embedding_dim,
            config.projection_layer_norm_eps,
        )
        self.img_temporal_embedding = temporal_embeddings(
            config.num_image_with_embedding, config.vision_config.hidden_size
        )
        self.lm_adapter = LMAdapter.for_model(self.language_model)
        self._decode_head = DecodeHead()
        self.post_init()
        if not config.image_positions:
            self.lm_adapter.reserve_unpositioned_row(self.language_model)

    # ---- building -------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained_parts(
        cls,
        vision: str,
        llm: str,
        projection: str = "git",
        keep_cls: bool = True,
        vision_feature_layer: int = -1,
        attn_implementation: str | None = None,
        dtype: torch.dtype | None = None,
        word_scale: bool = False,
        **config_kwargs: Any,
    ) -> "GitLLMForCausalLM":
        """Build from two pretrained halves, each a hub id, a local folder or a gitllm zoo name.

        A full dual-tower checkpoint (CLIP, SigLIP) contributes its vision tower only. `word_scale`: see
        `match_word_scale`."""
        check_attention_implementation(attn_implementation)
        from gitllm.zoo import resolve

        vision_path, llm_path = resolve(vision), resolve(llm)
        loaded_config = AutoConfig.from_pretrained(vision_path)
        vision_config = getattr(loaded_config, "vision_config", None) or loaded_config
        load_kwargs: dict[str, Any] = {"attn_implementation": attn_implementation, "dtype": dtype}
        with quiet_loading():
            vision_model = AutoModel.from_pretrained(vision_path, config=vision_config, **load_kwargs)
            language_model = AutoModelForCausalLM.from_pretrained(llm_path, **load_kwargs)
        config = GitLLMConfig(
            vision_config=vision_model.config,
            text_config=language_model.config,
            projection=projection,
            keep_cls=keep_cls,
            vision_feature_layer=vision_feature_layer,
            **config_kwargs,
        )
        model = cls(config, vision_model=vision_model, language_model=language_model)
        if word_scale:
            model.match_word_scale()
        return model.to(dtype) if dtype is not None else model

    def match_word_scale(self) -> None:
        """Start image tokens at the scale of the LLM's word embeddings: the projection's final LayerNorm gain
        becomes their std (a gain of 1 makes image tokens ~7x longer than SmolLM2's words; its effect on
        easy-VQA is within run-to-run spread so far, research/easyvqa/RESULTS.md)."""
        set_output_scale(self.visual_projection, word_embedding_std(self.get_input_embeddings()))

    # ---- embeddings -----------------------------------------------------------------------------------
    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module | None:
        return self.language_model.get_output_embeddings()

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """pixel_values (B, C, H, W) -> vision features (B, N, Dv), before the projection (cacheable); each
        image alone, so frames encode as a batch of images."""
        check_pixel_values(self.config.vision_config, pixel_values)
        dtype = next(self.vision_model.parameters()).dtype
        return encode_images(
            self.vision_model, pixel_values.to(dtype), self.config.vision_feature_layer, self.config.keep_cls
        )

    def image_embeddings(
        self,
        pixel_values: torch.Tensor | None = None,
        vision_features: torch.Tensor | None = None,
        frame_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Projected image tokens (B, N, D) from pixels (B, C, H, W) or vision features (B, N, Dv); for frames,
        pixels (B, F, C, H, W) or features (B, F, N, Dv) with `frame_mask` (B, F) give (B, F x N', D): each
        frame's temporal embedding added, each frame projected (and pooled) alone, frames in order."""
        if (pixel_values is None) == (vision_features is None):
            raise ValueError("pass exactly one of pixel_values or vision_features")
        projection_dtype = next(self.visual_projection.parameters()).dtype
        if not _has_frames(pixel_values, vision_features):
            if frame_mask is not None:
                raise ValueError("frame_mask goes with frames: pixel_values (B, F, C, H, W) or vision_features "
                                 "(B, F, N, Dv)")
            features = self.encode_images(pixel_values) if vision_features is None else vision_features
            return self.visual_projection(features.to(projection_dtype))
        frames = self.frame_features(pixel_values, vision_features, frame_mask)
        projected = self.visual_projection(frames.flatten(0, 1).to(projection_dtype))  # (B*F, N', D)
        return projected.unflatten(0, frames.shape[:2]).flatten(1, 2)

    def frame_features(
        self,
        pixel_values: torch.Tensor | None = None,
        vision_features: torch.Tensor | None = None,
        frame_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Vision features (B, F, N, Dv) of frames with their temporal embeddings (padded frames zero); only
        real frames are encoded."""
        images = pixel_values if pixel_values is not None else vision_features
        frame_mask = check_frames(images, frame_mask, self.config.num_image_with_embedding)
        if pixel_values is not None:
            real = frame_mask.bool()
            encoded = self.encode_images(pixel_values[real])  # (real frames, N, Dv)
            vision_features = encoded.new_zeros(*real.shape, *encoded.shape[1:])
            vision_features[real] = encoded
        return add_temporal_embeddings(vision_features, frame_mask, self.img_temporal_embedding)

    # ---- packing --------------------------------------------------------------------------------------
    def pack_inputs(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        vision_features: torch.Tensor | None = None,
        frame_mask: torch.Tensor | None = None,
    ) -> PackedInputs:
        """Validate a batch and lay it out as `[text padding][image][text]` (see PackedInputs); padded frames
        join the padding."""
        if input_ids.ndim != 2:
            raise ValueError(f"input_ids must be (batch, text_len), got shape {tuple(input_ids.shape)}")
        images = pixel_values if pixel_values is not None else vision_features
        if images is not None and images.shape[0] != input_ids.shape[0]:
            raise ValueError(
                f"batch sizes differ: {images.shape[0]} images but {input_ids.shape[0]} text rows "
                "(one image, or one set of frames, per text row)"
            )
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        elif attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask shape {tuple(attention_mask.shape)} differs from input_ids {tuple(input_ids.shape)}"
            )
        attention_mask = attention_mask.long()
        has_frames = _has_frames(pixel_values, vision_features)
        if has_frames:
            images = pixel_values if pixel_values is not None else vision_features
            frame_mask = check_frames(images, frame_mask, self.config.num_image_with_embedding)
        image_embeds = self.image_embeddings(pixel_values, vision_features, frame_mask)
        batch, num_image = image_embeds.shape[:2]
        image_mask = None  # (B, N) 1 on the tokens of real frames; None: one image per row, all real
        if has_frames:
            image_mask = frame_token_mask(frame_mask.to(attention_mask.dtype), num_image)
        prefix_ids = torch.tensor(self.config.prefix_token_ids, dtype=input_ids.dtype, device=input_ids.device)
        num_prefix = len(prefix_ids)
        max_positions = self.lm_adapter.max_positions
        positioned = self.config.image_positions  # image tokens take positions
        if image_mask is None:
            positioned_image = num_image if positioned else 0
            longest = num_prefix + positioned_image + int(attention_mask.sum(-1).max())
        else:
            lengths = image_mask.sum(-1) * positioned + attention_mask.sum(-1) + num_prefix
            longest = int(lengths.max())
            positioned_image = int(image_mask.sum(-1)[lengths.argmax()]) if positioned else 0
        if max_positions is not None and longest > max_positions:
            raise ValueError(
                f"{num_prefix} prefix + {positioned_image} image tokens + "
                f"{longest - num_prefix - positioned_image} text tokens = {longest} exceed the LLM's maximum of "
                f"{max_positions} positions; shorten the prompt"
                + ("" if image_mask is None else " or give fewer frames")
            )

        text_order = _left_pad_order(attention_mask)
        if text_order is not None:
            input_ids = input_ids.gather(1, text_order)
            attention_mask = attention_mask.gather(1, text_order)
        embed = self.language_model.get_input_embeddings()
        text_embeds = embed(input_ids)
        prefix_embeds = embed(prefix_ids).expand(batch, -1, -1)
        image_embeds = image_embeds.to(text_embeds.dtype)
        ones = torch.ones(batch, num_prefix + num_image, dtype=attention_mask.dtype, device=attention_mask.device)
        mask = torch.cat([ones, attention_mask], dim=1)
        is_image = torch.zeros_like(mask)
        is_image[:, num_prefix : num_prefix + num_image] = 1
        if image_mask is not None:
            mask[:, num_prefix : num_prefix + num_image] = image_mask
            is_image[:, num_prefix : num_prefix + num_image] = image_mask
        embeds = torch.cat([prefix_embeds, image_embeds, text_embeds], dim=1)
        if not bool(mask.all()):
            # Stable sort on the padding mask moves each row's (left) text padding and padded frames before
            # its image.
            layout = torch.argsort(mask, dim=1, stable=True)
            embeds = embeds.gather(1, layout.unsqueeze(-1).expand_as(embeds))
            mask, is_image = mask.gather(1, layout), is_image.gather(1, layout)
        if self.config.image_positions:
            position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        else:
            position_ids = ((mask * (1 - is_image)).cumsum(-1) - 1).clamp(min=0)
            position_ids = position_ids.masked_fill(is_image.bool(), self.lm_adapter.unpositioned_id)
        block_ids = torch.where(is_image.bool(), 0, -1)
        return PackedInputs(embeds, mask, position_ids, block_ids, attention_mask, text_order)

    # ---- forward --------------------------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        vision_features: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        loss_only: bool = False,
        frame_mask: torch.Tensor | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
    ) -> GitLLMOutput:
        """input_ids (B, T), pixel_values (B, C, H, W) or vision_features (B, N, Dv), attention_mask (B, T),
        labels (B, T) with -100 where not trained. Returns text-only logits (B, T, V).
        Several images per row: pixel_values (B, F, C, H, W) or vision_features (B, F, N, Dv), with
        frame_mask (B, F) when rows have fewer real frames than F (see `gitllm.model.frames`).

        `loss_only` (training, with labels): the LM head runs only from the first position that predicts a
        label, e.g. the answer of a left-padded batch; `.logits` is then None. `num_items_in_batch` (the HF
        Trainer's loss kwarg): the loss is summed over this batch's labelled tokens and divided by it, the
        labelled-token count of all micro-batches of an accumulated step; else it is this batch's mean.
        Any other argument is a TypeError (nothing is silently ignored)."""
        if loss_only and labels is None:
            raise ValueError("loss_only=True needs labels")
        packed = self.pack_inputs(input_ids, attention_mask, pixel_values, vision_features, frame_mask)
        text_len = input_ids.shape[1]
        targets = None
        if labels is not None:
            if packed.text_order is not None:
                labels = labels.gather(1, packed.text_order)
            # Token j+1 is learnt from position j only when both are real text (never from padding).
            real_pair = packed.text_mask[:, :-1].bool() & packed.text_mask[:, 1:].bool()
            targets = labels[:, 1:].masked_fill(~real_pair, -100)
        # The LM head runs on the last T positions only: with left-padded text they hold every real text token.
        keep = text_len
        if loss_only:
            trained = targets.ne(-100).any(0).nonzero()
            keep = text_len - (int(trained[0]) if len(trained) else text_len - 1)
        lm_kwargs = self.lm_adapter.lm_inputs(
            self.language_model, packed.inputs_embeds, packed.attention_mask, packed.position_ids, packed.block_ids
        )
        outputs = self.language_model(
            **lm_kwargs, use_cache=False, logits_to_keep=keep, output_hidden_states=output_hidden_states
        )
        logits = outputs.logits
        loss = None
        if targets is not None:
            kept_targets = targets[:, text_len - keep :]
            summed = F.cross_entropy(
                logits[:, :-1].flatten(0, 1).float(), kept_targets.flatten(), ignore_index=-100, reduction="sum"
            )
            count = targets.ne(-100).sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
            loss = summed / count
        if loss_only:
            logits = None
        elif packed.text_order is not None:
            restore = torch.argsort(packed.text_order, dim=1)
            logits = logits.gather(1, restore.unsqueeze(-1).expand_as(logits))
        return GitLLMOutput(
            loss=loss,
            logits=logits,
            hidden_states=outputs.hidden_states,
            image_token_count=packed.inputs_embeds.shape[1] - text_len - len(self.config.prefix_token_ids),
        )

    # ---- generation -----------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        vision_features: torch.Tensor | None = None,
        frame_mask: torch.Tensor | None = None,
        **generate_kwargs: Any,
    ) -> Any:
        """Generate text after an image with the HF generation API (greedy, sampling, beams, streamers).

        The image is encoded once; the whole prompt but its last token is prefilled into a KV cache under
        the GIT mask, then `language_model.generate` continues from the last (text) token, which is plain
        causal. Returns what HF generate returns, holding the new tokens only. A CPU float32 LM head decodes
        from a column-major copy of its weight (`DecodeHead`: same values, faster; the model is untouched).
        Frames (several images per row) as in `forward`."""
        with self._decode_head.active(self.language_model):
            return self._generate(input_ids, pixel_values, attention_mask, vision_features, frame_mask,
                                  **generate_kwargs)

    def _generate(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        vision_features: torch.Tensor | None,
        frame_mask: torch.Tensor | None,
        **generate_kwargs: Any,
    ) -> Any:
        packed = self.pack_inputs(input_ids, attention_mask, pixel_values, vision_features, frame_mask)
        # Contract: every row ends with a real text token (left padding), so decoding starts causal.
        if not bool(packed.text_mask[:, -1].all()):
            raise ValueError("every prompt needs at least one text token (e.g. BOS) after the image")
        lm = self.language_model
        cache = GrowingCache(config=lm.config)
        lm(
            **self.lm_adapter.lm_inputs(
                lm,
                packed.inputs_embeds[:, :-1],
                packed.attention_mask[:, :-1],
                packed.position_ids[:, :-1],
                packed.block_ids[:, :-1],
                cache=cache,
            ),
            logits_to_keep=1,
        )
        config = generate_kwargs.get("generation_config") or lm.generation_config
        expand = max(
            generate_kwargs.get("num_beams", config.num_beams) or 1,
            generate_kwargs.get("num_return_sequences", config.num_return_sequences) or 1,
        )
        if expand > 1:
            cache.batch_repeat_interleave(expand)
        if self.lm_adapter.accepts_position_ids:
            # New tokens continue from the last text position (HF's own count would include unpositioned tokens).
            generate_kwargs["position_ids"] = packed.position_ids
        return lm.generate(
            inputs_embeds=packed.inputs_embeds,
            attention_mask=packed.attention_mask,
            cache=cache,
            **generate_kwargs,
        )
