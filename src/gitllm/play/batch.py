"""`gitllm ask` over many images: a folder (one question for all) or a JSONL of image + question rows."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from tqdm.auto import tqdm

from gitllm.data import BadRowError, RowPolicy, Sample
from gitllm.data.readers.common import jsonl_rows, parse_json
from gitllm.data.images import IMAGE_SUFFIXES
from gitllm.model import GitLLMForCausalLM, GitLLMProcessor
from gitllm.infer.generate import GenerationSettings, generate_answers, question_sample

Row = tuple[dict[str, Any], Sample]  # (fields written out, prompt)
ANSWER_KEY = "answer"


def read_questions(source: str | Path, question: str | None = None, instruction: str = "",
                   policy: RowPolicy | None = None, answer_key: str = ANSWER_KEY) -> list[Row]:
    """Rows from a folder of images (each asked `question`) or a JSONL file of `{"image": path, "question":
    text, ...}` objects (`image` may be a list of paths, read together as frames; relative paths start at the
    file's folder; `question` is the default; other fields are copied to the output). A bad line is a
    BadRowError naming it (with `policy.skip_bad`: counted and skipped); a row that already has `answer_key`
    is a ValueError, since its value would be overwritten. Images load when answered."""
    path = Path(source)
    policy = policy if policy is not None else RowPolicy()
    if path.is_dir():
        if not question:
            raise ValueError("asking about a folder of images needs a question")
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        return [({"image": str(p), "question": question}, question_sample(p, question, instruction, p.name))
                for p in images]
    if path.suffix != ".jsonl" or not path.is_file():
        raise ValueError(f"{source} is neither a folder of images nor a .jsonl file")

    def parse(line_number: str, line: bytes) -> Row:
        row = parse_json(str(path), line_number, line)
        if answer_key in row:
            raise ValueError(f"{path} line {line_number} already has an {answer_key!r} field, which the answer "
                             f"would overwrite; pass --answer-key with another name, e.g. prediction")
        text, image = row.get("question", question), row.get("image")
        names = image if isinstance(image, list) else [image]
        if not all(isinstance(name, str) for name in names) or not isinstance(text, str):
            raise BadRowError(str(path), line_number, "missing_field",
                              "needs 'image' (a path or a list of paths) and a string 'question'")
        try:
            sample = question_sample([path.parent / n for n in names], text, instruction, line_number)
        except ValueError as err:  # an empty question or image list
            raise BadRowError(str(path), line_number, "missing_field", str(err)) from None
        return {**row, "question": text}, sample

    rows = [policy.guard(parse, number, line) for number, line in jsonl_rows(path)]
    return [row for row in rows if row is not None]


def answer_all(model: GitLLMForCausalLM, processor: GitLLMProcessor, rows: list[Row], out: TextIO,
               template: str | None = None, settings: GenerationSettings = GenerationSettings(),
               batch_size: int = 8, policy: RowPolicy | None = None, answer_key: str = ANSWER_KEY) -> int:
    """Write one JSON line per row (its fields + `answer_key`) in input order, batch by batch; returns the
    count written. A row whose image does not load raises BadRowError or, with `policy.skip_bad`, is counted
    and left out."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    policy = policy if policy is not None else RowPolicy()
    written = 0
    with tqdm(total=len(rows), desc="answering", unit="q") as bar:
        for start in range(0, len(rows), batch_size):
            loaded = [policy.guard(_decoded, row) for row in rows[start : start + batch_size]]
            chunk = [row for row in loaded if row is not None]
            answers = generate_answers(model, processor, [s for _, s in chunk], template, settings, batch_size)
            for (fields, _), answer in zip(chunk, answers):
                out.write(json.dumps({**fields, answer_key: answer}, ensure_ascii=False) + "\n")
            out.flush()
            written += len(chunk)
            bar.update(len(loaded))
    return written


def _decoded(row: Row) -> Row:
    fields, sample = row
    return fields, replace(sample, images=sample.load_images())


@contextmanager
def replaced_atomically(path: Path) -> Iterator[TextIO]:
    """A text file that becomes `path` only when the block succeeds (written beside it, then renamed);
    on failure `path` keeps what it held before and the partial file is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        with partial.open("w", encoding="utf-8") as out:
            yield out
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
