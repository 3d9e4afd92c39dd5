"""Pieces every reader shares: row streams, field access with named errors, JSON-array streaming."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from gitllm.data.images import ImageError
from gitllm.data.rows import BadRowError, RowPolicy
from gitllm.data.schema import Sample
from gitllm.data.video import video_frames

Parse = Callable[[str, Any], Sample]  # (row_id, raw row) -> Sample, raising BadRowError


def samples(rows: Iterable[tuple[str, Any]], parse: Parse, policy: RowPolicy) -> Iterator[Sample]:
    """Lazily parse (row_id, raw) pairs; bad rows raise or are counted by `policy`.

    A BadRowError from `rows` itself (the file cannot be read on: truncated, corrupt, not text) ends this
    stream: it raises, or is counted like a bad row."""
    rows = iter(rows)
    while True:
        try:
            row_id, raw = next(rows)
        except StopIteration:
            return
        except BadRowError as err:
            policy.reject(err)
            return
        sample = policy.guard(parse, row_id, raw)
        if sample is not None:
            yield sample


def jsonl_rows(path: Path) -> Iterator[tuple[str, bytes]]:
    """(line number from 1, raw line) for each non-blank line, read one at a time; `parse_json` decodes it."""
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                yield str(number), line


def json_array_rows(path: Path, chunk_chars: int = 1 << 20) -> Iterator[tuple[str, Any]]:
    """(index from 0, element) for a top-level JSON array, decoding one element at a time (bounded memory)."""
    decoder, buffer, index = json.JSONDecoder(), "", 0
    with path.open(encoding="utf-8-sig") as stream:

        def fill() -> bool:
            nonlocal buffer
            try:
                chunk = stream.read(chunk_chars)
            except UnicodeDecodeError as err:
                raise BadRowError(str(path), str(index), "bad_file", f"not UTF-8 text ({err})") from None
            buffer += chunk
            return bool(chunk)

        while not buffer.lstrip() and fill():
            pass
        buffer = buffer.lstrip()
        if not buffer:
            return
        if not buffer.startswith("["):
            raise BadRowError(str(path), "0", "bad_file", f"expected a JSON array of records, found {buffer[:20]!r}")
        buffer = buffer[1:]
        while True:
            buffer = buffer.lstrip().removeprefix(",").lstrip()
            if buffer.startswith("]"):
                return
            try:
                element, end = decoder.raw_decode(buffer)
            except json.JSONDecodeError as err:
                if fill():
                    continue
                raise BadRowError(str(path), str(index), "bad_json", f"array element does not parse ({err})") from None
            yield str(index), element
            buffer, index = buffer[end:], index + 1


def parse_json(source: str, row_id: str, raw: Any) -> dict[str, Any]:
    """A JSON object from a raw row (a jsonl line as bytes or text, or an already decoded element), or
    BadRowError('bad_json')."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            kind = "binary data" if b"\0" in raw else "not UTF-8 text"
            raise BadRowError(source, row_id, "bad_json", f"line is {kind}, not a JSON object") from None
    try:
        row = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as err:
        raise BadRowError(source, row_id, "bad_json", f"line does not parse ({err})") from None
    if not isinstance(row, dict):
        raise BadRowError(source, row_id, "bad_json", f"expected an object, got {type(row).__name__}")
    return row


_REQUIRED: Any = object()


def get(row: dict[str, Any], names: tuple[str, ...], kind: type | tuple[type, ...], source: str, row_id: str,
        default: Any = _REQUIRED) -> Any:
    """The first present field of `names` (aliases), checked to be `kind`; absent: `default` when given, else
    BadRowError('missing_field'). A field of the wrong type is BadRowError('missing_field') naming it."""
    for name in names:
        if row.get(name) is not None:
            value = row[name]
            if not isinstance(value, kind):
                wanted = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
                detail = f"field {name!r} is {type(value).__name__}, not {wanted}"
                raise BadRowError(source, row_id, "missing_field", detail)
            return value
    if default is not _REQUIRED:
        return default
    raise BadRowError(source, row_id, "missing_field", f"no field {' / '.join(map(repr, names))}")


def row_images(row: dict[str, Any], image_names: tuple[str, ...], video_names: tuple[str, ...], folder: Path,
               source: str, row_id: str) -> list[Any]:
    """A row's images, paths relative to `folder`: one path or a list of paths (several images, in order)
    under `image_names`, or, when a `video_names` field is present, every frame of that video (a folder of
    frame images or a video file, `gitllm.data.video`); BadRowError naming what is wrong."""
    if any(row.get(name) for name in video_names):  # (an empty CSV cell is no video)
        try:
            return list(video_frames(folder / get(row, video_names, str, source, row_id)))
        except ImageError as err:
            raise BadRowError(source, row_id, err.reason, err.detail) from None
    image = get(row, image_names, (str, list), source, row_id)
    names = [image] if isinstance(image, str) else image
    if not names or not all(isinstance(name, str) for name in names):
        detail = f"field {image_names[0]!r} must be a path or a list of paths, not {image!r:.60}"
        raise BadRowError(source, row_id, "missing_field", detail)
    return [folder / name for name in names]
