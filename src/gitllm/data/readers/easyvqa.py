"""easy-VQA (package `easy-vqa`): 64x64 coloured-shape images with one-word answers, train and test splits."""

from __future__ import annotations

from collections.abc import Iterator

from gitllm.data.readers.common import samples
from gitllm.data.rows import RowPolicy
from gitllm.data.schema import Sample


def read(source: str, policy: RowPolicy, instruction: str = "", **_: object) -> Iterator[Sample]:
    """Questions of split `source` ('train' or 'test', optionally prefixed 'easyvqa:'), in package order."""
    import easy_vqa

    split = source.removeprefix("easyvqa").lstrip(":") or "train"
    loaders = {
        "train": (easy_vqa.get_train_questions, easy_vqa.get_train_image_paths),
        "test": (easy_vqa.get_test_questions, easy_vqa.get_test_image_paths),
    }
    if split not in loaders:
        raise ValueError(f"easy-VQA split must be 'train' or 'test', not {split!r}")
    questions, answers, image_ids = loaders[split][0]()
    paths = loaders[split][1]()
    name = f"easyvqa:{split}"

    def parse(row_id: str, i: int) -> Sample:
        return Sample(name, row_id, [paths[image_ids[i]]], instruction, questions[i], answers[i], task="easy-vqa")

    return samples(((str(i), i) for i in range(len(questions))), parse, policy)
