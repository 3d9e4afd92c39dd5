"""Sample -> model inputs: template text, one tokenization with offsets, labels by answer span, pixels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from gitllm.data.frames import stack_frames
from gitllm.data.pixels import PixelTransform
from gitllm.data.schema import Sample
from gitllm.data.templates import Template, get_template

IGNORE_INDEX = -100
LabelMode = Literal["answer", "all"]


@dataclass
class Encoder:
    """Encodes samples for training (`__call__`) and prompts for generation (`prompt`).

    label_mode 'answer' (default) trains each assistant answer plus the EOS that ends it; 'all' (the seed's
    mode) trains every text token. `max_length` bounds the text tokens (BOS/EOS included, image positions
    not); a longer sample raises BadRowError('too_long') rather than losing part of an answer. A sample with
    several images gives frames, `max_frames` of them at most, sampled evenly (`Sample.frames`).
    """

    tokenizer: Any
    image_processor: Any
    template: str = "git-llm"
    label_mode: LabelMode = "answer"
    max_length: int = 512
    max_frames: int | None = None
    render: Template = field(init=False, repr=False)
    pixels: PixelTransform = field(init=False, repr=False)
    bos: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # An EOS token ends every answer, and labels come from character offsets (fast tokenizers).
        if self.tokenizer.eos_token is None:
            raise ValueError("the tokenizer has no eos_token: set one (it ends every answer)")
        if not getattr(self.tokenizer, "is_fast", False):
            raise ValueError("labels need character offsets: load a fast tokenizer (use_fast=True)")
        if self.label_mode not in ("answer", "all"):
            raise ValueError(f"label_mode must be 'answer' or 'all', not {self.label_mode!r}")
        self.render = get_template(self.template)
        self.pixels = PixelTransform.from_processor(self.image_processor)
        default = self.tokenizer("", add_special_tokens=True)["input_ids"]
        self.bos = default[:1] if default and default[0] == self.tokenizer.bos_token_id else []

    def __call__(self, sample: Sample) -> dict[str, torch.Tensor]:
        """`input_ids` (T,) long, `labels` (T,) long with -100 where not trained, `pixel_values` (3,H,W) float
        (or (F,3,H,W) for several images)."""
        return {**self.text(sample), "pixel_values": self.pixel_values(sample)}

    def text(self, sample: Sample) -> dict[str, torch.Tensor]:
        """The training text alone: `input_ids` and `labels` (T,) long (for callers with cached image features)."""
        sample.require_answer()
        input_ids, labels = self.tokenize(self.pieces(sample))
        if len(input_ids) > self.max_length:
            raise sample.error("too_long", f"{len(input_ids)} text tokens > max_length {self.max_length}")
        return {"input_ids": torch.tensor(input_ids, dtype=torch.long), "labels": torch.tensor(labels, dtype=torch.long)}

    def prompt(self, sample: Sample) -> dict[str, torch.Tensor]:
        """Generation input: the text up to and including the answer cue (`##Answer:` for git-llm).

        A conversation ending with an answer is cut before it; returns `input_ids` (T,) long, `pixel_values`.
        Its `input_ids` are the prefix of the training encoding's `input_ids` for the same sample.
        """
        return {**self.prompt_text(sample), "pixel_values": self.pixel_values(sample)}

    def prompt_text(self, sample: Sample) -> dict[str, torch.Tensor]:
        """`prompt` without the image: `input_ids` (T,) long (for callers with cached image features)."""
        input_ids, _ = self.tokenize([(self.render(sample.instruction, sample.prompt_turns, self.tokenizer, True),
                                       False)])
        return {"input_ids": torch.tensor(input_ids, dtype=torch.long)}

    def pixel_values(self, sample: Sample) -> torch.Tensor:
        """The sample's image as (3,H,W) float, or its frames as (F,3,H,W), decoded no larger than the
        processor needs; BadRowError('frame_sizes') when frames come out at different sizes."""
        frames = [self.pixels(image) for image in sample.load_images(self.pixels.min_side, self.max_frames)]
        if len(frames) == 1:
            return frames[0]
        try:
            return stack_frames([frames])[0][0]
        except ValueError as err:
            raise sample.error("frame_sizes", str(err)) from None

    def pieces(self, sample: Sample) -> list[tuple[str, bool]]:
        """The rendered text as (text, trained) pieces; trained pieces are each answer through its EOS."""
        eos, turns, done = self.tokenizer.eos_token, sample.conversation, ""
        pieces: list[tuple[str, bool]] = []
        for k, turn in enumerate(turns):
            if turn.role != "assistant":
                continue
            cue = self.render(sample.instruction, turns[:k], self.tokenizer, True)
            full = self.render(sample.instruction, turns[: k + 1], self.tokenizer, False)
            # Contract: the template is prefix-stable (see gitllm.data.templates).
            assert cue.startswith(done) and full.startswith(cue), f"template {self.template!r} is not prefix-stable"
            part = full[len(cue) :]
            lead = len(part) - len(part.lstrip())
            answer = part[lead:]
            cut = answer.find(eos)
            end = cut + len(eos) if cut >= 0 else len(answer.rstrip())
            pieces += [(cue[len(done) :] + part[:lead], False), (answer[:end], True)]
            if cut < 0:
                pieces.append((eos, True))
            pieces.append((answer[end:], False))
            done = full
        if self.label_mode == "all":
            pieces = [(text, True) for text, _ in pieces]
        return [(text, trained) for text, trained in pieces if text]

    def tokenize(self, pieces: list[tuple[str, bool]]) -> tuple[list[int], list[int]]:
        """Token ids of the joined pieces (BOS first when the tokenizer adds one), and their labels."""
        text = "".join(t for t, _ in pieces)
        spans, start = [], 0
        for piece, trained in pieces:
            if trained:
                spans.append((start, start + len(piece)))
            start += len(piece)
        encoding = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = encoding["input_ids"]
        offsets = encoding["offset_mapping"]
        labels = [tok if _inside(offset, spans) else IGNORE_INDEX for tok, offset in zip(ids, offsets)]
        rendered_bos = self.tokenizer.bos_token is not None and text.startswith(self.tokenizer.bos_token)
        bos = [] if rendered_bos else self.bos
        return bos + ids, (bos if self.label_mode == "all" else [IGNORE_INDEX] * len(bos)) + labels


def _inside(offset: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    """Whether a token's character span overlaps a trained span (a zero-width token: lies inside one)."""
    start, end = offset
    return any(max(start, a) < min(end, b) or (start == end and a <= start < b) for a, b in spans)


def encode_sample(
    sample: Sample,
    tokenizer: Any,
    image_processor: Any,
    template: str = "git-llm",
    label_mode: LabelMode = "answer",
    max_length: int = 512,
) -> dict[str, torch.Tensor]:
    """One-off `Encoder(...)(sample)`; build an Encoder once when encoding many samples."""
    return Encoder(tokenizer, image_processor, template, label_mode, max_length)(sample)


def encode_prompt(
    sample: Sample, tokenizer: Any, image_processor: Any, template: str = "git-llm"
) -> dict[str, torch.Tensor]:
    """One-off `Encoder(...).prompt(sample)`: generation input up to the answer cue."""
    return Encoder(tokenizer, image_processor, template).prompt(sample)
