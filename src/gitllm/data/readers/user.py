"""Users' own data: a CSV or JSONL table of image path + caption or question/answer, or an image folder.

Columns (first present alias wins): image `image|image_path|file_name|path` (in JSONL also a list of paths:
several images), or video `video|video_path|frames` (a folder of frame images, or a video file with the
`video` extra: every frame, sampled later by `Sample.frames`); answer `answer|caption|outputs|text`; question
`question|inputs` (optional); instruction (optional). Rows with a caption and no question get
`caption_instruction`. Relative paths are resolved against the table's folder (or `image_folder`). A folder
holds `metadata.jsonl` / `metadata.csv` (the Hugging Face imagefolder convention) or images with same-stem
`.txt` captions.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gitllm.data.images import IMAGE_SUFFIXES
from gitllm.data.readers.common import get, jsonl_rows, parse_json, row_images, samples
from gitllm.data.rows import BadRowError, RowPolicy
from gitllm.data.schema import Sample

CAPTION_INSTRUCTION = "Describe the image."
_IMAGE = ("image", "image_path", "file_name", "path")
_VIDEO = ("video", "video_path", "frames")
_ANSWER = ("answer", "caption", "outputs", "text")
_QUESTION = ("question", "inputs")


def row_to_sample(row: dict[str, Any], source: str, row_id: str, folder: Path, caption_instruction: str) -> Sample:
    images = row_images(row, _IMAGE, _VIDEO, folder, source, row_id)
    answer = get(row, _ANSWER, str, source, row_id)
    question = get(row, _QUESTION, str, source, row_id, default="")
    instruction = get(row, ("instruction",), str, source, row_id, default="")
    instruction = instruction or ("" if question else caption_instruction)
    task = get(row, ("task",), str, source, row_id, default="") or "user"
    return Sample(source, row_id, images, instruction, question, answer, task=task)


def read_table(source: str, policy: RowPolicy, image_folder: str | None = None,
               caption_instruction: str = CAPTION_INSTRUCTION, **_: object) -> Iterator[Sample]:
    """A .csv/.tsv (header row) or .jsonl table; row ids are line numbers (header is line 1)."""
    path = Path(source)
    folder = Path(image_folder) if image_folder else path.parent

    def parse(row_id: str, row: Any) -> Sample:
        return row_to_sample(parse_json(source, row_id, row), source, row_id, folder, caption_instruction)

    return samples(jsonl_rows(path) if path.suffix == ".jsonl" else _csv_rows(path), parse, policy)


def _csv_rows(path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """(line number, row) per data row; text that is not UTF-8 CSV ends the file with BadRowError('bad_file')."""
    with path.open(newline="", encoding="utf-8-sig") as stream:
        rows = csv.DictReader(stream, delimiter="\t" if path.suffix == ".tsv" else ",")
        try:
            for row in rows:
                yield str(rows.line_num), row
        except (UnicodeDecodeError, csv.Error) as err:
            raise BadRowError(str(path), str(rows.line_num + 1), "bad_file", f"not UTF-8 CSV text ({err})") from None


def read_folder(source: str, policy: RowPolicy, caption_instruction: str = CAPTION_INSTRUCTION,
                **_: object) -> Iterator[Sample]:
    """A folder with metadata.jsonl/.csv, else images with same-stem .txt captions (missing: a bad row)."""
    folder = Path(source)
    for name in ("metadata.jsonl", "metadata.csv"):
        if (folder / name).is_file():
            return read_table(str(folder / name), policy, caption_instruction=caption_instruction)

    def parse(row_id: str, image: Path) -> Sample:
        caption = image.with_suffix(".txt")
        if not caption.is_file():
            raise BadRowError(source, row_id, "missing_field", f"no caption file {caption.name}")
        text = caption.read_text(encoding="utf-8")
        return Sample(source, row_id, [image], caption_instruction, "", text, task="user")

    images = (p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES)
    return samples(((p.name, p) for p in images), parse, policy)
