"""The image-blind score: the same questions answered with each row's image swapped for another row's (a fixed,
seeded derangement) and with all-zero image features (answered once per distinct prompt). The drop from real
to blind accuracy is how much the answers use the image; a model that answers from the question alone scores
the same blind as with its images.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from gitllm.data import Sample
from gitllm.data.pixels import PixelTransform
from gitllm.infer.features import ImageKeys
from gitllm.infer.generate import generate_answers
from gitllm.model import GitLLMForCausalLM, GitLLMProcessor

BLIND_SEED = 0


def derangement(keys: Sequence[str], seed: int = BLIND_SEED) -> list[int]:
    """source[i]: the row whose image row i gets instead of its own (`keys`: one image key per row; for a
    row with frames, its frame keys joined).

    Rows are grouped by key, groups and rows within them shuffled with `seed`, and each row takes the image
    m places on in that order, cyclically (m: the size of the largest group). So no row gets an image equal
    to its own unless one image holds more than half of the rows (a single image: every row keeps it)."""
    rng = random.Random(seed)
    groups: dict[str, list[int]] = {}
    for row, key in enumerate(keys):
        groups.setdefault(key, []).append(row)
    order = list(groups.values())
    rng.shuffle(order)
    for group in order:
        rng.shuffle(group)
    flat = [row for group in order for row in group]
    shift = max((len(group) for group in order), default=0)
    source = [0] * len(flat)
    for place, row in enumerate(flat):
        source[row] = flat[(place + shift) % len(flat)]
    return source


@torch.no_grad()
def blind_answers(model: GitLLMForCausalLM, processor: GitLLMProcessor, samples: Sequence[Sample],
                  vision_features: Sequence[torch.Tensor] | None = None, seed: int = BLIND_SEED,
                  **generation: Any) -> dict[str, list[str]]:
    """{'blind': answers with images shuffled across rows (`derangement`), 'zeroed': answers with all-zero
    vision features}, one per sample; `generation`: `generate_answers`' template, settings, batch_size,
    progress. With `vision_features` (one (N, Dv) per sample, e.g. from the feature cache) the features
    themselves are shuffled and no image is encoded; else the swapped images are."""
    keys = ImageKeys(model.config.num_image_with_embedding)
    source = derangement(["+".join(keys(sample)) for sample in samples], seed)
    if vision_features is None:
        swapped = [replace(sample, images=samples[j].images) for sample, j in zip(samples, source)]
        blind = generate_answers(model, processor, swapped, **generation)
        pixels = PixelTransform.from_processor(processor.image_processor)
        zero = torch.zeros_like(model.encode_images(pixels(samples[0].load_image(pixels.min_side))[None])[0])
        frames = [len(sample.frames(keys.max_frames)) for sample in samples]
        zeros = [zero if count == 1 else zero.repeat(count, 1, 1) for count in frames]  # (N, Dv) / (F, N, Dv)
    else:
        shuffled = [vision_features[j] for j in source]
        blind = generate_answers(model, processor, samples, vision_features=shuffled, **generation)
        zeros = [torch.zeros_like(features) for features in vision_features]
    return {"blind": blind, "zeroed": _zeroed_answers(model, processor, samples, zeros, generation)}


def _zeroed_answers(model: GitLLMForCausalLM, processor: GitLLMProcessor, samples: Sequence[Sample],
                    zeros: Sequence[torch.Tensor], generation: dict[str, Any]) -> list[str]:
    """Answers with all-zero features. They depend on the prompt and the frame count only, so each distinct
    (instruction, conversation before the answer, zero-feature shape) is answered once and shared."""
    first: dict[tuple, int] = {}
    keys = []
    for i, (sample, zero) in enumerate(zip(samples, zeros)):
        key = (sample.instruction, tuple((turn.role, turn.text) for turn in sample.prompt_turns), tuple(zero.shape))
        keys.append(first.setdefault(key, i))
    unique = sorted(set(keys))
    answers = generate_answers(model, processor, [samples[i] for i in unique],
                               vision_features=[zeros[i] for i in unique], **generation)
    by_row = dict(zip(unique, answers))
    return [by_row[i] for i in keys]
