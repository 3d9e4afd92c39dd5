"""Batching: dynamic padding to the longest row, left padding by default ([pad][image][text])."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from gitllm.data.encode import IGNORE_INDEX
from gitllm.data.frames import stack_frames


# Image inputs and the ndim of one image: pixels (3,H,W) or cached encoder features (N,Dv); frames add a leading F.
IMAGE_INPUTS = {"pixel_values": 3, "vision_features": 2}


@dataclass(frozen=True)
class Collator:
    """Encoded rows -> batch: `pixel_values` (B,3,H,W) float (or cached `vision_features` (B,N,Dv)),
    `input_ids`, `attention_mask`, `labels` (B,T) long. When a row has frames ((F,3,H,W) / (F,N,Dv)), the
    batch has frames: (B,F,...) padded after each row's frames (a single image is one frame), plus
    `frame_mask` (B,F) long.

    T is the longest row in the batch (no max-length padding). Padding positions get `pad_token_id`,
    attention 0 and label -100. Rows without `labels` (prompts for generation) give a batch without labels.
    """

    pad_token_id: int
    padding_side: Literal["left", "right"] = "left"

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, padding_side: Literal["left", "right"] = "left") -> Collator:
        """Pads with the tokenizer's pad token, or its EOS when it has none (GPT-2 style)."""
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        assert pad is not None, "tokenizer has neither pad nor eos token"
        return cls(int(pad), padding_side)

    def __call__(self, rows: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        assert rows and self.padding_side in ("left", "right"), (len(rows), self.padding_side)
        width = max(len(row["input_ids"]) for row in rows)
        # Contract: every row carries exactly one kind of image input.
        (image_key,) = [key for key in IMAGE_INPUTS if key in rows[0]]
        batch = {
            "input_ids": self._pad([row["input_ids"] for row in rows], width, self.pad_token_id),
            "attention_mask": self._pad([torch.ones_like(row["input_ids"]) for row in rows], width, 0),
        }
        images = [row[image_key] for row in rows]
        if all(image.ndim == IMAGE_INPUTS[image_key] for image in images):
            # A single-threaded numpy copy: torch.stack's parallel copy stalls when the cores are busy.
            batch[image_key] = torch.from_numpy(np.stack([image.numpy() for image in images]))
        else:
            frames = [image[None] if image.ndim == IMAGE_INPUTS[image_key] else image for image in images]
            batch[image_key], batch["frame_mask"] = stack_frames(frames)
        if "labels" in rows[0]:
            batch["labels"] = self._pad([row["labels"] for row in rows], width, IGNORE_INDEX)
        return batch

    def _pad(self, rows: list[torch.Tensor], width: int, value: int) -> torch.Tensor:
        out = torch.full((len(rows), width), value, dtype=torch.long)
        for i, row in enumerate(rows):
            if self.padding_side == "left":
                out[i, width - len(row) :] = row
            else:
                out[i, : len(row)] = row
        return out
