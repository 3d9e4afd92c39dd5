"""The validation split by image and answer balancing (`gitllm.train.data`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from gitllm.data import Sample
from gitllm.train.config import DataSpec
from gitllm.train.data import balance_answers, hold_out_images, split_samples


def _images(tmp_path: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        path = tmp_path / f"img{i}.png"
        Image.new("RGB", (4, 4), (i, 2 * i % 256, 7)).save(path)
        paths.append(path)
    return paths


def _rows(paths: list[Path], per_image: int) -> list[Sample]:
    return [Sample("t", f"{i}-{k}", [p], "", f"question {k}?", "yes" if (i + k) % 4 else "no")
            for i, p in enumerate(paths) for k in range(per_image)]


def test_hold_out_images_keeps_images_whole_and_is_stable(tmp_path: Path) -> None:
    rows = _rows(_images(tmp_path, 20), per_image=3)
    train, val = hold_out_images(rows, val_size=10)
    assert len(val) == 12 and len(train) == 48  # whole images: 4 images x 3 questions reach >= 10 rows
    assert not {str(s.images[0]) for s in train} & {str(s.images[0]) for s in val}
    # the same images whatever the row order (a seed's shuffle does not move the split)
    _, again = hold_out_images(list(reversed(rows)), val_size=10)
    assert {s.row_id for s in again} == {s.row_id for s in val}


def test_hold_out_images_needs_training_rows(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="val_size"):
        hold_out_images(_rows(_images(tmp_path, 2), per_image=2), val_size=10)


def test_split_by_image_through_the_spec(tmp_path: Path) -> None:
    table = tmp_path / "rows.jsonl"
    paths = _images(tmp_path, 10)
    table.write_text("".join(f'{{"image": "{p.name}", "question": "q{k}?", "answer": "a{k}"}}\n'
                             for p in paths for k in range(2)))
    spec = DataSpec(train=[str(table)], val_size=4, val_by="image", shuffle=True, max_train_samples=5)
    train0, val0 = split_samples(spec, seed=0)
    train1, val1 = split_samples(spec, seed=1)
    assert [s.row_id for s in val0] == [s.row_id for s in val1] and len(val0) == 4
    assert len(train0) == 5 and {s.row_id for s in train0} != {s.row_id for s in train1}


def test_balance_answers_equalises_each_question(tmp_path: Path) -> None:
    paths = _images(tmp_path, 12)
    skewed = [Sample("t", str(i), [p], "", "is there a red shape?", "yes" if i < 2 else "no") for i, p in enumerate(paths)]
    uniform = [Sample("t", f"w{i}", [p], "", "what shape?", ["circle", "square", "triangle"][i % 3])
               for i, p in enumerate(paths)]
    caption = [Sample("t", "c", [paths[0]], "Describe.", "", "a red circle")]
    out = balance_answers(skewed + uniform + caption, seed=0)
    assert len(out) == 25
    by_question = Counter((s.inputs, s.outputs) for s in out)
    assert by_question[("is there a red shape?", "yes")] == by_question[("is there a red shape?", "no")] == 6
    assert {by_question[("what shape?", a)] for a in ("circle", "square", "triangle")} == {4}
    assert sum(s.row_id == "c" for s in out) == 1
    # the rare answer's rows are all used, none more than its fair share of repeats
    assert Counter(s.row_id for s in out if s.outputs == "yes") == {"0": 3, "1": 3}
    assert [s.row_id for s in balance_answers(skewed, seed=0)] == [s.row_id for s in balance_answers(skewed, seed=0)]


def test_fault_hold_out_images_skips_a_missing_image_when_asked(tmp_path: Path) -> None:
    from gitllm.data import RowPolicy
    from gitllm.data.rows import BadRowError

    rows = _rows(_images(tmp_path, 6), per_image=2) + [Sample("t", "gone", [tmp_path / "gone.png"], "", "q?", "a")]
    with pytest.raises(BadRowError):
        hold_out_images(rows, val_size=2)
    policy = RowPolicy(skip_bad=True)
    train, val = hold_out_images(rows, val_size=2, policy=policy)
    assert len(train) + len(val) == 12 and sum(policy.rejected.values()) == 1
