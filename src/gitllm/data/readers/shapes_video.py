"""Shapes video: a deterministic, offline task whose answers depend on frame order.

Each video is FRAMES (4) frames of 64x64 pixels: one easy-VQA-style shape (circle, square or triangle) on
white that moves steadily left or right and takes a different colour in every frame (the four colours in a
random order). Two questions per video: "what colour is the shape in the first|second|third|last frame?" and
"does the shape move left or right?". A reader blind to frame order answers them at chance (25% and 50%).

Sources `shapesvideo:train|val|test` (VIDEOS per split, each split from its own seed) yield the same
samples on every machine. For training, `shapesvideo-every:<split>` asks the colour of every frame (and the
direction) of the same videos, and `shapesvideo-frames:<split>` asks about single frames ("what colour is the
shape?", "is the shape on the left or the right?"): image-level questions whose answers are the video questions'
words, for training the frame -> word path beside the order questions. `write_split` stores a split as frame
folders plus a JSONL table (the `video` column of the table reader), for use outside gitllm.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from gitllm.data.readers.common import samples
from gitllm.data.rows import RowPolicy
from gitllm.data.schema import Sample

FRAMES = 4
SIZE = 64
COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 220), "yellow": (235, 200, 30)}
SHAPES = ("circle", "square", "triangle")
ORDINALS = ("first", "second", "third", "last")
VIDEOS = {"train": 4000, "val": 200, "test": 500}
SEEDS = {"train": 0, "val": 1, "test": 2}
STEP = 9  # pixels the shape moves per frame
KINDS = ("shapesvideo", "shapesvideo-every", "shapesvideo-frames")  # source prefixes: which questions are asked


@dataclass(frozen=True)
class Video:
    """One video's content: the shape, its colour per frame, its centre in the first frame, its direction."""

    shape: str
    colours: tuple[str, ...]
    x: int
    y: int
    radius: int
    direction: str  # "left" | "right"

    def frames(self) -> list[Image.Image]:
        """FRAMES RGB images (SIZE x SIZE)."""
        sign = 1 if self.direction == "right" else -1
        return [_draw(self.shape, COLOURS[c], self.x + sign * STEP * k, self.y, self.radius)
                for k, c in enumerate(self.colours)]

    def questions(self, frame: int) -> list[tuple[str, str]]:
        """(question, answer) pairs: the colour in frame `frame`, then the direction."""
        return [(f"what colour is the shape in the {ORDINALS[frame]} frame?", self.colours[frame]),
                ("does the shape move left or right?", self.direction)]

    def frame_questions(self, frame: int) -> list[tuple[int, str, str]]:
        """(frame, question, answer) about single frames: the colour of frame `frame`, then the side of the
        image the shape is on in whichever of the first and last frames is farther from the middle."""
        sign = 1 if self.direction == "right" else -1
        centres = {k: self.x + sign * STEP * k for k in (0, FRAMES - 1)}
        side = max(centres, key=lambda k: abs(centres[k] - SIZE / 2))
        return [(frame, "what colour is the shape?", self.colours[frame]),
                (side, "is the shape on the left or the right?", "left" if centres[side] < SIZE / 2 else "right")]


def _draw(shape: str, colour: tuple[int, int, int], x: int, y: int, r: int) -> Image.Image:
    image = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    if shape == "circle":
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    elif shape == "square":
        draw.rectangle((x - r, y - r, x + r, y + r), fill=colour)
    else:
        draw.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=colour)
    return image


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def videos(split: str) -> Iterator[tuple[Video, int]]:
    """The split's videos in order, each with the frame its colour question names."""
    if split not in VIDEOS:
        raise ValueError(f"shapes-video split must be one of {list(VIDEOS)}, not {split!r}")
    rng = np.random.default_rng(SEEDS[split])
    travel = STEP * (FRAMES - 1)
    for _ in range(VIDEOS[split]):
        radius = int(rng.integers(7, 11))
        direction = ("left", "right")[int(rng.integers(2))]
        start = int(rng.integers(radius + 1, SIZE - radius - 1 - travel))
        x = start if direction == "right" else start + travel
        y = int(rng.integers(radius + 1, SIZE - radius - 1))
        colours = tuple(np.array(list(COLOURS))[rng.permutation(len(COLOURS))[:FRAMES]])
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        yield Video(shape, tuple(str(c) for c in colours), x, y, radius, direction), int(rng.integers(FRAMES))


def read(source: str, policy: RowPolicy, instruction: str = "", **_: object) -> Iterator[Sample]:
    """Questions of split `source` ('train', 'val' or 'test', optionally prefixed by a kind: 'shapesvideo:' two
    per video, 'shapesvideo-every:' the colour of every frame and the direction (FRAMES + 1 per video),
    'shapesvideo-frames:' two single-frame questions per video), frames rendered on reading (PNG bytes)."""
    kind, _, split = source.rpartition(":")
    if not kind:
        kind, split = ("shapesvideo", source) if source in VIDEOS else (source, "train")
    if kind not in KINDS:
        raise ValueError(f"shapes-video source {source!r}: the kind must be one of {list(KINDS)}")
    name = f"{kind}:{split}"

    def asked(video: Video, frame: int, frames: list[bytes]) -> list[tuple[list[bytes], str, str, str]]:
        if kind == "shapesvideo-frames":
            return [([frames[k]], question, answer, task)
                    for (k, question, answer), task in zip(video.frame_questions(frame), ("frame-colour", "frame-side"))]
        named = range(FRAMES) if kind == "shapesvideo-every" else [frame]
        colours = [(frames, *video.questions(k)[0], "colour") for k in named]
        return [*colours, (frames, *video.questions(frame)[1], "direction")]

    def rows() -> Iterator[tuple[str, tuple[list[bytes], str, str, str]]]:
        for v, (video, frame) in enumerate(videos(split)):
            frames = [_png(image) for image in video.frames()]  # shared by the video's questions
            for q, item in enumerate(asked(video, frame, frames)):
                yield f"{v}.{q}", item

    def parse(row_id: str, item: tuple[list[bytes], str, str, str]) -> Sample:
        images, question, answer, task = item
        return Sample(name, row_id, images, instruction, question, answer, task="shapes-video:" + task)

    return samples(rows(), parse, policy)


def write_split(split: str, out: str | Path, limit: int | None = None) -> Path:
    """Store `split` (its first `limit` videos) as OUT/<video>/frame_<k>.png folders and OUT/<split>.jsonl rows
    ({video, question, answer}); returns the table's path."""
    out = Path(out)
    lines = []
    for v, (video, frame) in enumerate(islice(videos(split), limit)):
        folder = out / f"{split}-{v:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        for k, image in enumerate(video.frames()):
            image.save(folder / f"frame_{k}.png")
        lines += [json.dumps({"video": folder.name, "question": q, "answer": a}) for q, a in video.questions(frame)]
    table = out / f"{split}.jsonl"
    table.write_text("\n".join(lines) + "\n")
    return table
