"""The one place where LLM families differ: positions, maximum length, attention backends and mask form.

Everything else runs one generic path through `inputs_embeds`, an explicit GIT mask and explicit
`position_ids`. Family quirks handled here:
- MPT (ALiBi) takes no `position_ids`; its bias depends only on key distance, so left padding is harmless.
- OPT's learned positions are offset inside OPT itself; it only needs `position_ids` passed (a 4D mask
  without them raises IndexError there).
- Sliding-window LMs (Mistral, Qwen2, Gemma2) get their window through `create_masks_for_generate`,
  which follows `config.layer_types` / `sliding_window`.
- flash-attention-2 cannot express a bidirectional image block: refused.
- Unpositioned tokens (`GitLLMConfig.image_positions=False`, heron's GitOPT) need a position id that adds
  nothing: OPT's learned table has a row OPT itself never reads (ids are offset by 2 and start at -1), kept zero.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedModel
from transformers.masking_utils import create_masks_for_generate

# Contract: attention implementations whose masks can express the GIT block (bidirectional image prefix).
SUPPORTED_ATTENTION = ("eager", "sdpa", "flex_attention")

# Contract: per LLM model_type, a position id its learned table never reads for real tokens, and that table.
UNPOSITIONED: dict[str, tuple[int, str]] = {"opt": (-2, "model.decoder.embed_positions")}


def check_attention_implementation(name: str | None) -> None:
    """Raise a ValueError for attention backends that cannot express the GIT mask."""
    if name is not None and name not in SUPPORTED_ATTENTION:
        raise ValueError(
            f"attn_implementation={name!r} cannot express the GIT mask (image tokens attend to each other "
            f"bidirectionally); use one of {SUPPORTED_ATTENTION}"
        )


@dataclass(frozen=True)
class LMAdapter:
    """How to call one causal LM with embeddings, a GIT mask and positions. unpositioned_id: the position id
    that adds no position embedding (None: the LM has none)."""

    accepts_position_ids: bool
    max_positions: int | None
    unpositioned_id: int | None = None

    @classmethod
    def for_model(cls, lm: PreTrainedModel) -> "LMAdapter":
        config = lm.config
        check_attention_implementation(config._attn_implementation)
        max_positions = next(
            (getattr(config, key) for key in ("max_position_embeddings", "n_positions", "max_seq_len")
             if getattr(config, key, None)),
            None,
        )
        return cls(
            accepts_position_ids="position_ids" in inspect.signature(lm.forward).parameters,
            max_positions=max_positions,
            unpositioned_id=UNPOSITIONED.get(config.model_type, (None, ""))[0],
        )

    def reserve_unpositioned_row(self, lm: PreTrainedModel) -> None:
        """Zero the position-table row that `unpositioned_id` reads and keep it out of training (its
        `padding_idx`), so unpositioned tokens get exactly no position embedding; ValueError if the LM has none."""
        if self.unpositioned_id is None:
            raise ValueError(
                f"image_positions=False needs an LLM with a learned position table ({sorted(UNPOSITIONED)}), "
                f"not {lm.config.model_type!r}; keep image_positions=True"
            )
        table = lm.get_submodule(UNPOSITIONED[lm.config.model_type][1])
        row = self.unpositioned_id + table.offset
        with torch.no_grad():
            table.weight[row].zero_()
        table.padding_idx = row

    def lm_inputs(
        self,
        lm: PreTrainedModel,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        block_ids: torch.Tensor,
        cache: Any = None,
    ) -> dict[str, Any]:
        """Keyword arguments for `lm(...)`: inputs_embeds (B, L, D), the GIT mask built for the LM's own
        attention backend (0/-inf float for eager, bool for sdpa, BlockMask for flex; a dict per layer type
        for sliding-window LMs), and position_ids (B, L) where the LM takes them.

        attention_mask (B, L_past + L) is the 2D padding mask; block_ids (B, L) is 0 on image positions and
        -1 elsewhere (image positions form one bidirectional block, the rest is causal).
        """
        check_attention_implementation(lm.config._attn_implementation)
        mask = create_masks_for_generate(
            config=lm.config,
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            cache=cache,
            position_ids=position_ids,
            block_sequence_ids=block_ids,
        )
        kwargs: dict[str, Any] = {"inputs_embeds": inputs_embeds, "attention_mask": mask}
        if self.accepts_position_ids:
            kwargs["position_ids"] = position_ids
        if cache is not None:
            kwargs["cache"] = cache
            kwargs["use_cache"] = True
        return kwargs
