"""M3IT readers: per-task jsonl files, converted parquet copies, and `datasets` streaming for large mixes.

Rows carry `instruction`, `inputs`, `outputs` and either `image_base64_str` (list of base64 strings, as the
original: one image, several images, or a video task's frames, all kept in order) or `image` (bytes or a
{bytes, path} struct, as the parquet copies). A file's task is its parent
folder's name (the original layout is `data/<category>/<task>/<split>.jsonl`). Mixes are interleaved
round-robin across tasks, so a stream of a million-row mix starts with every task represented.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

from gitllm.data.readers.common import get, jsonl_rows, parse_json, samples
from gitllm.data.rows import BadRowError, RowPolicy
from gitllm.data.schema import Base64Image, Sample

# The seed's Experiment 3 mix: M3IT's English image tasks. Excluded: Chinese (fm-iqa, coco-cn, flickr8k-cn,
# chinese-food, mmchat) and video tasks; `video` names the latter (rows with a list of base64 frames).
PRESETS: dict[str, tuple[str, ...]] = {
    "experiment3": (
        "coco", "textcap", "image-paragraph-captioning", "coco-goi", "coco-text", "imagenet", "coco-itm",
        "snli-ve", "mocheg", "iqa", "vqa-v2", "shapes", "docvqa", "ocr-vqa", "st-vqa", "text-vqa", "gqa",
        "okvqa", "a-okvqa", "viquae", "clevr", "vcr", "visual-mrc", "visual-dialog", "multi30k",
    ),
    "coco": ("coco",),  # Experiments 1 and 2
    "video": ("ss", "ivqa", "msvd-qa", "activitynet-qa", "msrvtt", "msrvtt-qa"),
}
_PARQUET_COLUMNS = ("instruction", "inputs", "outputs", "image_base64_str", "image")


def resolve_tasks(tasks: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """A preset name, a comma-separated string or a list of task names -> task names (None: all tasks)."""
    if tasks is None:
        return None
    names = tasks.split(",") if isinstance(tasks, str) else list(tasks)
    return tuple(chain.from_iterable(PRESETS.get(name.strip(), (name.strip(),)) for name in names if name.strip()))


def row_to_sample(row: dict[str, Any], source: str, row_id: str, task: str) -> Sample:
    """One M3IT row (either image column) -> Sample; BadRowError on a missing or mistyped field."""
    instruction = get(row, ("instruction",), str, source, row_id)
    inputs = get(row, ("inputs",), str, source, row_id)
    outputs = get(row, ("outputs",), str, source, row_id)
    images: list[Any]
    if row.get("image_base64_str") is not None:
        encoded = row["image_base64_str"]
        encoded = [encoded] if isinstance(encoded, str) else encoded
        if not isinstance(encoded, list) or not all(isinstance(e, str) for e in encoded):
            raise BadRowError(source, row_id, "missing_field", "image_base64_str is not a list of strings")
        images = [Base64Image(e) for e in encoded]
    else:
        image = get(row, ("image",), (bytes, dict), source, row_id)
        if isinstance(image, dict):
            image = get(image, ("bytes", "path"), (bytes, str), source, row_id)
        images = [image]
    return Sample(source, row_id, images, instruction, inputs, outputs, task=task)


def task_files(root: Path, suffix: str, tasks: Sequence[str] | None, split: str | None) -> list[Path]:
    """Files under `root` (or `root` itself) with `suffix`, filtered by task (parent folder) and split (stem)."""
    files = [root] if root.is_file() else sorted(root.rglob(f"*{suffix}"))
    if tasks is not None:
        missing = set(tasks) - {f.parent.name for f in files}
        if missing:
            raise FileNotFoundError(f"no {suffix} files for tasks {sorted(missing)} under {root}")
        files = [f for f in files if f.parent.name in tasks]
    if split is not None and root.is_dir():
        files = [f for f in files if f.stem.split("-")[0].split(".")[0] == split]
    if not files:
        raise FileNotFoundError(f"no {suffix} files under {root} (split={split!r})")
    return files


def round_robin(streams: Iterable[Iterator[Sample]]) -> Iterator[Sample]:
    """One sample from each stream in turn until all are exhausted."""
    queue = deque(streams)
    while queue:
        stream = queue.popleft()
        sample = next(stream, None)
        if sample is not None:
            yield sample
            queue.append(stream)


def read_jsonl(source: str, policy: RowPolicy, tasks: str | Sequence[str] | None = None,
               split: str | None = None, **_: object) -> Iterator[Sample]:
    """Original M3IT jsonl: one file, or a folder of `<task>/<split>.jsonl` files."""

    def one(path: Path) -> Iterator[Sample]:
        def parse(row_id: str, line: str) -> Sample:
            row_id = f"{path.parent.name}:{row_id}"
            return row_to_sample(parse_json(str(path), row_id, line), str(path), row_id, path.parent.name)

        return samples(jsonl_rows(path), parse, policy)

    return round_robin(one(p) for p in task_files(Path(source), ".jsonl", resolve_tasks(tasks), split))


def read_parquet(source: str, policy: RowPolicy, tasks: str | Sequence[str] | None = None,
                 split: str | None = None, batch_rows: int = 64, **_: object) -> Iterator[Sample]:
    """Converted parquet copies (`image` column), read `batch_rows` rows at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
        index = 0
        try:
            parquet = pq.ParquetFile(path)
            columns = [c for c in _PARQUET_COLUMNS if c in parquet.schema_arrow.names]
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
                for row in batch.to_pylist():
                    yield f"{path.parent.name}:{index}", row
                    index += 1
        except (pa.ArrowException, OSError) as err:
            detail = f"not a readable parquet file ({err})"
            raise BadRowError(str(path), f"{path.parent.name}:{index}", "bad_file", detail) from None

    def one(path: Path) -> Iterator[Sample]:
        return samples(rows(path), lambda i, row: row_to_sample(row, str(path), i, path.parent.name), policy)

    return round_robin(one(p) for p in task_files(Path(source), ".parquet", resolve_tasks(tasks), split))


def read_hub(source: str, policy: RowPolicy, tasks: str | Sequence[str] | None = None,
             split: str | None = None, **_: object) -> Iterator[Sample]:
    """`datasets` streaming: `source` is a hub repo id (or local dataset folder) with one config per task."""
    import datasets

    repo = source.removeprefix("hf:")
    names = resolve_tasks(tasks)
    if names is None:
        raise ValueError("m3it-hub needs tasks=... (task names or a preset such as 'experiment3')")

    def one(task: str) -> Iterator[Sample]:
        stream = datasets.load_dataset(repo, name=task, split=split or "train", streaming=True)
        rows = ((f"{task}:{i}", row) for i, row in enumerate(stream))
        return samples(rows, lambda i, row: row_to_sample(row, f"{repo}/{task}", i, task), policy)

    return round_robin(one(t) for t in names)
