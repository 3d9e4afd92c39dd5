"""`gitllm ask` over many images: a folder (one question for all) or a JSONL of image + question rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from tqdm.auto import tqdm

from gitllm.data import Sample
from gitllm.data.readers.common import jsonl_rows, parse_json
from gitllm.data.images import IMAGE_SUFFIXES
from gitllm.model import GitLLMForCausalLM, GitLLMProcessor
from gitllm.infer.generate import GenerationSettings, generate_answers, question_sample

Row = tuple[dict[str, Any], Sample]  # (fields written out, prompt)


def read_questions(source: str | Path, question: str | None = None, instruction: str = "") -> list[Row]:
    """Rows from a folder of images (each asked `question`) or a JSONL file of `{"image": path, "question":
    text, ...}` objects (`image` may be a list of paths, read together as frames; relative paths start at the
    file's folder; `question` is the default; other fields are copied to the output). A bad row is a
    ValueError naming its line; images load when answered."""
    path = Path(source)
    if path.is_dir():
        if not question:
            raise ValueError("asking about a folder of images needs a question")
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        return [({"image": str(p), "question": question}, question_sample(p, question, instruction, p.name))
                for p in images]
    if path.suffix != ".jsonl" or not path.is_file():
        raise ValueError(f"{source} is neither a folder of images nor a .jsonl file")
    rows = []
    for line_number, line in jsonl_rows(path):
        row = parse_json(str(path), line_number, line)
        text, image = row.get("question", question), row.get("image")
        names = image if isinstance(image, list) else [image]
        if not all(isinstance(name, str) for name in names) or not isinstance(text, str):
            raise ValueError(f"{path} line {line_number}: needs 'image' (a path or a list of paths) and a "
                             "string 'question'")
        try:
            rows.append(({**row, "question": text},
                         question_sample([path.parent / n for n in names], text, instruction, line_number)))
        except ValueError as err:
            raise ValueError(f"{path} line {line_number}: {err}") from None
    return rows


def answer_all(model: GitLLMForCausalLM, processor: GitLLMProcessor, rows: list[Row], out: TextIO,
               template: str | None = None, settings: GenerationSettings = GenerationSettings(),
               batch_size: int = 8) -> int:
    """Write one JSON line per row (its fields + `answer`) in input order, batch by batch; returns the count."""
    with tqdm(total=len(rows), desc="answering", unit="q") as bar:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            answers = generate_answers(model, processor, [s for _, s in chunk], template, settings, batch_size)
            for (fields, _), answer in zip(chunk, answers):
                out.write(json.dumps({**fields, "answer": answer}, ensure_ascii=False) + "\n")
            out.flush()
            bar.update(len(chunk))
    return len(rows)
