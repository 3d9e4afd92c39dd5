"""Readers by format name: each `reader(source, policy, **options)` lazily yields Samples.

Formats: m3it (jsonl), m3it-parquet, m3it-hub (`datasets` streaming), llava, easyvqa, shapesvideo (generated
offline), folder, csv, jsonl.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gitllm.data.readers import easyvqa, llava, m3it, shapes_video, user
from gitllm.data.rows import RowPolicy
from gitllm.data.schema import Sample

Reader = Callable[..., Iterator[Sample]]

READERS: dict[str, Reader] = {
    "m3it": m3it.read_jsonl,
    "m3it-parquet": m3it.read_parquet,
    "m3it-hub": m3it.read_hub,
    "llava": llava.read,
    "easyvqa": easyvqa.read,
    "shapesvideo": shapes_video.read,
    "folder": user.read_folder,
    "csv": user.read_table,
    "jsonl": user.read_table,
}


VIRTUAL = ("easyvqa", "shapesvideo", "m3it-hub")  # formats whose sources are not local paths


def read(source: str, format: str | None = None, policy: RowPolicy | None = None, **options: Any) -> Iterator[Sample]:
    """Samples from `source` in `format` (detected when None); bad rows raise unless `policy.skip_bad`.

    `options` go to the format's reader (tasks/split for M3IT, image_folder for LLaVA and tables, instruction
    for easy-VQA); each reader ignores the options of other formats, so one option set serves a mixed config.
    A missing path, an unknown format, or a source with no rows at all (good or bad) is a ValueError."""
    name = format or detect_format(source)
    if name not in READERS:
        raise ValueError(f"unknown data format {name!r}; known: {sorted(READERS)}")
    if name not in VIRTUAL:
        _require_path(source)
    policy = policy if policy is not None else RowPolicy()
    return _not_empty(source, READERS[name](source, policy, **options), policy)


def _not_empty(source: str, samples: Iterator[Sample], policy: RowPolicy) -> Iterator[Sample]:
    """`samples`, then a ValueError at the end when the source held no rows at all (none read, none rejected)."""
    rejected, count = policy.n_rejected, 0
    for sample in samples:
        count += 1
        yield sample
    if count == 0 and policy.n_rejected == rejected:
        raise ValueError(f"{source}: no rows (the file is empty or holds only a header); check the path and format")


def _require_path(source: str) -> None:
    if not Path(source).exists():
        raise ValueError(f"{source!r}: no such file or folder")


def detect_format(source: str) -> str:
    """The format of `source` from its name, suffix, or first record; a missing path is a ValueError."""
    path = Path(source)
    if source.startswith("easyvqa"):
        return "easyvqa"
    if source.startswith("shapesvideo"):
        return "shapesvideo"
    if source.startswith("hf:"):
        return "m3it-hub"
    _require_path(source)
    if path.is_dir():
        if any(path.glob("metadata.*")) or any(p.suffix.lower() in user.IMAGE_SUFFIXES for p in path.iterdir()):
            return "folder"
        for suffix, name in ((".parquet", "m3it-parquet"), (".jsonl", "m3it")):
            if next(path.rglob(f"*{suffix}"), None) is not None:
                return name
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix == ".parquet":
        return "m3it-parquet"
    if suffix == ".json":
        return "llava"
    if suffix == ".jsonl" and path.is_file():
        keys = _first_keys(path)
        return "m3it" if "image_base64_str" in keys else "llava" if "conversations" in keys else "jsonl"
    raise ValueError(f"cannot detect the format of {source!r}; pass one of {sorted(READERS)}")


def _first_keys(path: Path) -> set[str]:
    with path.open("rb") as lines:
        for line in lines:
            if line.strip():
                try:
                    row = json.loads(line.decode("utf-8-sig"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    return set()
                return set(row) if isinstance(row, dict) else set()
    return set()
