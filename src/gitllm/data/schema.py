"""One sample schema for every source: images (lazy), instruction, question, answer or turns, task, row id."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from PIL import Image

from gitllm.data.images import ImageError, ImageSource, load_image
from gitllm.data.rows import BadRowError
from gitllm.data.video import VideoFrame, sample_indices

Role = Literal["user", "assistant"]


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
    Texts are stripped of surrounding whitespace. Invalid content raises BadRowError naming the row.
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
        if not self.images:
            raise self.error("missing_field", "no image")
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
        """The first image, decoded to RGB."""
        return self.decode(self.images[0], min_side)

    @property
    def image(self) -> Image.Image:
        return self.load_image()
