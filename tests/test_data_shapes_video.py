"""The order task's generator: deterministic splits whose answers match the pixels, and its export."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from gitllm.data import read
from gitllm.data.readers.shapes_video import COLOURS, FRAMES, ORDINALS, VIDEOS, videos, write_split


def _centre_and_colour(image) -> tuple[float, tuple[int, int, int]]:
    """The shape's mean column and its colour (the pixels that are not white)."""
    pixels = np.asarray(image).astype(int)
    shape = (pixels != 255).any(-1)
    colour = pixels[shape].mean(0).round().astype(int)
    return float(np.nonzero(shape)[1].mean()), tuple(int(c) for c in colour)


def test_splits_are_deterministic_and_distinct() -> None:
    first = [(s.row_id, s.conversation, s.images) for s in islice(read("shapesvideo:val"), 20)]
    again = [(s.row_id, s.conversation, s.images) for s in islice(read("shapesvideo:val"), 20)]
    assert first == again
    test = [s.images for s in islice(read("shapesvideo:test"), 20)]
    assert [images for _, _, images in first] != test
    assert sum(1 for _ in videos("val")) == VIDEOS["val"] == 200
    with pytest.raises(ValueError, match="split must be one of"):
        list(read("shapesvideo:dev"))


def test_answers_match_the_frames() -> None:
    samples = list(islice(read("shapesvideo:train"), 60))
    for sample in samples:
        frames = sample.load_images()
        assert len(frames) == FRAMES and all(f.size == (64, 64) for f in frames)
        centres, colours = zip(*(_centre_and_colour(f) for f in frames))
        question, answer = sample.conversation[0].text, sample.conversation[1].text
        if sample.task == "shapes-video:direction":
            steps = np.diff(centres)
            assert (steps > 0).all() if answer == "right" else (steps < 0).all(), (sample.row_id, centres)
        else:
            frame = ORDINALS.index(question.split(" in the ")[1].split()[0])
            assert colours[frame] == COLOURS[answer], (sample.row_id, colours, answer)
            assert len(set(colours)) == FRAMES  # a different colour in every frame
    assert {s.conversation[1].text for s in samples} >= {"left", "right", *COLOURS}


def test_single_frame_questions_match_their_frame_and_the_video() -> None:
    """`shapesvideo-frames:` asks about one frame of each video: its colour, and the side of the image the shape
    is on in the first or last frame (whichever is farther from the middle: never ambiguous)."""
    videos_ = list(islice(read("shapesvideo:train"), 40))
    singles = list(islice(read("shapesvideo-frames:train"), 40))
    assert [s.row_id for s in singles] == [s.row_id for s in videos_]
    for single, video in zip(singles, videos_):
        (frame,), answer = single.load_images(), single.conversation[1].text
        assert frame.size == (64, 64) and single.images[0] in video.images  # a frame of the same video
        centre, colour = _centre_and_colour(frame)
        if single.task == "shapes-video:frame-colour":
            assert single.conversation[0].text == "what colour is the shape?" and colour == COLOURS[answer]
        else:
            assert single.task == "shapes-video:frame-side"
            assert video.images.index(single.images[0]) in (0, FRAMES - 1)
            assert answer == ("left" if centre < 32 else "right") and abs(centre - 32) > 8, (single.row_id, centre)
    assert {s.conversation[1].text for s in singles} == {"left", "right", *COLOURS}


def test_every_frame_kind_asks_each_frame_of_the_same_videos() -> None:
    every = list(islice(read("shapesvideo-every:val"), 2 * (FRAMES + 1)))
    plain = list(islice(read("shapesvideo:val"), 4))
    for v in range(2):
        rows = every[v * (FRAMES + 1):(v + 1) * (FRAMES + 1)]
        assert all(r.images == plain[2 * v].images for r in rows)
        assert [r.conversation[0].text.split(" in the ")[1].split()[0] for r in rows[:FRAMES]] == list(ORDINALS)
        assert rows[FRAMES].conversation == plain[2 * v + 1].conversation  # the direction, as in the plain kind
        assert plain[2 * v].conversation in [r.conversation for r in rows[:FRAMES]]
    with pytest.raises(ValueError, match="kind must be one of"):
        list(read("shapesvideo-some:val", format="shapesvideo"))


def test_write_split_round_trips_through_the_table_reader(tmp_path: Path) -> None:
    table = write_split("val", tmp_path, limit=3)
    exported = list(islice(read(str(table)), 6))
    generated = list(islice(read("shapesvideo:val"), 6))
    for mine, theirs in zip(exported, generated):
        assert mine.conversation == theirs.conversation
        assert [np.asarray(a).tolist() for a in mine.load_images()] == \
            [np.asarray(b).tolist() for b in theirs.load_images()]
