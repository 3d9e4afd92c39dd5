"""Which checkpoint a run resumes from: the newest complete one, checked without reading any tensor.

The Trainer writes a checkpoint's files one after another and `trainer_state.json` last, so a kill while
saving leaves that file missing or cut short, or an earlier file truncated. Each file is checked for what
such a kill leaves: JSON that parses, a safetensors header whose tensors fit the file size, a torch zip
archive whose central directory (at its end) is there. Checkpoints that fail are skipped, saying why.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from gitllm.train.state import TRAINABLE_FILE

TRAINER_STATE = "trainer_state.json"
_CHECKPOINT = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")


def checkpoints(output_dir: Path) -> list[Path]:
    """The `checkpoint-N` folders of a run, newest (highest N) first."""
    if not output_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in output_dir.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def checkpoint_problem(folder: Path) -> str | None:
    """Why `folder` cannot be resumed from (e.g. a kill while saving), or None when it is complete."""
    if not (folder / TRAINER_STATE).is_file():
        return f"{TRAINER_STATE} is missing (the save did not finish)"
    if not (folder / TRAINABLE_FILE).is_file():
        return f"{TRAINABLE_FILE} is missing"
    for path in sorted(folder.iterdir()):
        problem = _file_problem(path)
        if problem is not None:
            return f"{path.name} {problem}"
    return None


def newest_complete(output_dir: Path) -> tuple[Path | None, list[str]]:
    """(the newest checkpoint of `output_dir` without a `checkpoint_problem` or None, why each newer one was
    skipped)."""
    skipped = []
    for folder in checkpoints(output_dir):
        problem = checkpoint_problem(folder)
        if problem is None:
            return folder, skipped
        skipped.append(f"{folder.name}: {problem}")
    return None, skipped


def _file_problem(path: Path) -> str | None:
    if path.suffix == ".json":
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            return "is not valid JSON (cut short?)"
    elif path.suffix == ".safetensors":
        return _safetensors_problem(path)
    elif path.suffix in (".pt", ".pth", ".bin") and not zipfile.is_zipfile(path):
        return "is not a complete torch archive (cut short?)"
    return None


def _safetensors_problem(path: Path) -> str | None:
    """Whether the header parses and the tensors it lists end exactly at the end of the file."""
    size = path.stat().st_size
    with path.open("rb") as stream:
        head = stream.read(8)
        if len(head) < 8:
            return "is cut short (no header)"
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            return "is cut short (header past the end)"
        try:
            header = json.loads(stream.read(length))
        except (ValueError, UnicodeDecodeError):
            return "has an unreadable header"
    try:
        ends = [int(entry["data_offsets"][1]) for name, entry in header.items() if name != "__metadata__"]
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return "has an unreadable header"
    if 8 + length + max(ends, default=0) != size:
        return f"is {size} bytes, its header describes {8 + length + max(ends, default=0)} (cut short?)"
    return None
