"""One sample schema for every source: images (lazy), instruction, question, answer or turns, task, row id."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from PIL import Image

from gitllm.data.images import ImageError, ImageSource, load_image
from gitllm.data.rows import BadRowError
from gitllm.data.video import VideoFrame, sample_indices

Role = Literal["user", "assistant"]
_IMAGE_TYPES = get_args(ImageSource)


@dataclass(frozen=True)
class Base64Image:
    """A base64 string of encoded image bytes, decoded only when the image is needed."""

    data: str

    def decode(self) -> bytes:
        try:
            return base64.b64decode("".join(self.data.split()), validate=True)
        except (binascii.Error, ValueError) as err:
            raise ImageError("bad_base64", f"image string is not valid base64 ({err})") from None


@dataclass(frozen=True)
class Turn:
    role: Role
    text: str


@dataclass
class Sample:
    """One training example as every reader yields it.

    `images` are the sample's images in order: one image, several images, or a video's frames; the model
    reads them all (`gitllm.model.frames`), sampled evenly down to a frame budget (`frames`). Images stay
    encoded (bytes, path, base64, a video frame or PIL) until `load_images()` / `load_image()` decode them.
    Single-turn samples set `inputs` (the question, may be empty) and `outputs` (the answer); multi-turn
    samples (LLaVA) set `turns` instead, alternating user/assistant from the user. A sample whose last turn
    is the user's (no `outputs`) is a prompt for generation; training needs `require_answer()` to pass.
    Texts are stripped of surrounding whitespace. Invalid content (a text that is not a string, an image of
    an unknown type) raises BadRowError naming the row.
    """

    source: str
    row_id: str
    images: Sequence[ImageSource | Base64Image | VideoFrame]
    instruction: str = ""
    inputs: str = ""
    outputs: str = ""
    task: str = ""
    turns: list[Turn] | None = None
    conversation: list[Turn] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.images, (str, bytes)) or not self.images:
            raise self.error("missing_field", "no image (images must be a non-empty list)")
        for k, image in enumerate(self.images):
            if not isinstance(image, (*_IMAGE_TYPES, Base64Image)):
                raise self.error("missing_field", f"image {k + 1} is {type(image).__name__}, not a path or image data")
        for name in ("instruction", "inputs", "outputs", "task"):
            if not isinstance(getattr(self, name), str):
                raise self.error("missing_field", f"{name} is {type(getattr(self, name)).__name__}, not text")
        if any(not isinstance(t, Turn) or not isinstance(t.text, str) for t in self.turns or ()):
            raise self.error("missing_field", "turns must be Turns with text")
        self.instruction, self.inputs, self.outputs = (s.strip() for s in (self.instruction, self.inputs, self.outputs))
        turns = self.turns or [Turn("user", self.inputs)] + ([Turn("assistant", self.outputs)] if self.outputs else [])
        self.conversation = [Turn(t.role, t.text.strip()) for t in turns]
        roles = [t.role for t in self.conversation]
        if roles != ["user", "assistant"] * (len(roles) // 2) + ["user"] * (len(roles) % 2):
            raise self.error("bad_conversation", f"turn roles {roles} do not alternate user/assistant from the user")
        if any(not t.text for t in self.conversation if t.role == "assistant"):
            raise self.error("empty_answer", "an answer is empty")

    def require_answer(self) -> None:
        """Raise BadRowError('empty_answer') unless the conversation ends with an answer to train on."""
        if self.conversation[-1].role != "assistant":
            raise self.error("empty_answer", "no answer after the last question")

    @property
    def prompt_turns(self) -> list[Turn]:
        """The conversation up to the question to answer: without its final answer, if it has one."""
        turns = self.conversation
        return turns[:-1] if turns[-1].role == "assistant" else turns

    def error(self, reason: str, detail: str) -> BadRowError:
        """A BadRowError naming this sample's row."""
        return BadRowError(self.source, self.row_id, reason, detail)

    def frames(self, max_frames: int | None = None) -> list[ImageSource | Base64Image | VideoFrame]:
        """The images the model reads: all of them, or `max_frames` sampled evenly (`sample_indices`)."""
        if max_frames is None or len(self.images) <= max_frames:
            return list(self.images)
        return [self.images[i] for i in sample_indices(len(self.images), max_frames)]

    def decode(self, image: ImageSource | Base64Image | VideoFrame, min_side: int | None = None) -> Image.Image:
        """One of this sample's images decoded to RGB (`gitllm.data.images.load_image`); BadRowError naming
        the row when it cannot be."""
        try:
            return load_image(image.decode() if isinstance(image, (Base64Image, VideoFrame)) else image,
                              min_side=min_side)
        except ImageError as err:
            raise self.error(err.reason, err.detail) from None

    def load_images(self, min_side: int | None = None, max_frames: int | None = None) -> list[Image.Image]:
        """`frames(max_frames)` decoded to RGB."""
        return [self.decode(image, min_side) for image in self.frames(max_frames)]

    def load_image(self, min_side: int | None = None) -> Image.Image:
        """The first image, decoded to RGB; every other image given as a path must exist (a row that names a
        missing file is broken even where only the first is used)."""
        for k, other in enumerate(self.images[1:], 2):
            if isinstance(other, (str, os.PathLike)) and not Path(other).is_file():
                raise self.error("image_not_found", f"image {k} of {len(self.images)}: no such file: {other}")
        return self.decode(self.images[0], min_side)

    @property
    def image(self) -> Image.Image:
        return self.load_image()
