"""LLaVA conversation data: a JSON array (or JSONL) of {id, image, conversations} plus an image folder.

`image` is one path or a list of paths (several images, kept in order); instead of it, `video` names a
folder of frame images or a video file (`gitllm.data.video`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gitllm.data.readers.common import get, json_array_rows, jsonl_rows, parse_json, row_images, samples
from gitllm.data.rows import BadRowError, RowPolicy
from gitllm.data.schema import Sample, Turn

IMAGE_PLACEHOLDER = "<image>"  # dropped: the model always puts the images (in list order) before the text
_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}


def record_to_sample(row: dict[str, Any], source: str, row_id: str, image_folder: Path) -> Sample:
    """One LLaVA record -> multi-turn Sample; a leading `system` turn becomes the instruction."""
    if "id" in row:
        row_id = f"{row_id} (id {row['id']})"
    images = row_images(row, ("image",), ("video",), image_folder, source, row_id)
    conversation = get(row, ("conversations",), list, source, row_id)
    instruction, turns = "", []
    for k, message in enumerate(conversation):
        if not isinstance(message, dict):
            raise BadRowError(source, row_id, "missing_field", f"conversations[{k}] is not an object")
        speaker = get(message, ("from", "role"), str, source, row_id)
        text = get(message, ("value", "content"), str, source, row_id).replace(IMAGE_PLACEHOLDER, "")
        if speaker == "system" and k == 0:
            instruction = text
        elif speaker in _ROLES:
            turns.append(Turn(_ROLES[speaker], text))  # type: ignore[arg-type]
        else:
            raise BadRowError(source, row_id, "bad_conversation", f"conversations[{k}] is from {speaker!r}")
    if not turns:
        raise BadRowError(source, row_id, "bad_conversation", "no turns")
    return Sample(source, row_id, images, instruction=instruction, turns=turns, task="llava")


def read(source: str, policy: RowPolicy, image_folder: str | None = None, **_: object) -> Iterator[Sample]:
    """Records from `source` (.json array or .jsonl); image paths are relative to `image_folder`
    (default: the JSON file's folder)."""
    path = Path(source)
    folder = Path(image_folder) if image_folder else path.parent
    rows = jsonl_rows(path) if path.suffix == ".jsonl" else json_array_rows(path)

    def parse(row_id: str, row: Any) -> Sample:
        return record_to_sample(parse_json(source, row_id, row), source, row_id, folder)

    return samples(rows, parse, policy)
