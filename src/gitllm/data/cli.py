"""`gitllm data check SOURCE`: read every row through the training path and report what would be rejected."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from functools import partial
from typing import Any

from gitllm.data.readers import READERS, detect_format, read
from gitllm.data.rows import RowPolicy
from gitllm.data.schema import Sample

PROGRESS_EVERY = 100_000


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="inspect and validate training data")
    commands = data.add_subparsers(dest="data_command", required=True)
    check = commands.add_parser("check", help="read every row as training would; count and explain rejects")
    check.add_argument("source", help="file, folder, 'easyvqa:train|test' or 'hf:REPO' (M3IT streaming)")
    check.add_argument("--format", choices=sorted(READERS), help="default: detected from the source")
    check.add_argument("--skip-bad", action="store_true", help="exit 0 even when rows are rejected")
    check.add_argument("--tokenizer", help="tokenizer folder: also check templates, labels and lengths")
    check.add_argument("--image-processor", help="image processor folder (with --tokenizer)")
    check.add_argument("--template", default="git-llm")
    check.add_argument("--label-mode", default="answer", choices=("answer", "all"))
    check.add_argument("--max-length", type=int, default=512, help="text tokens per sample")
    check.add_argument("--tasks", help="M3IT task names (comma-separated) or a preset, e.g. experiment3")
    check.add_argument("--split", help="M3IT split (file stem / hub split)")
    check.add_argument("--image-folder", help="folder that relative image paths start from")
    check.add_argument("--max-frames", type=int, help="frames per sample read, sampled evenly (default: all)")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    if bool(args.tokenizer) != bool(args.image_processor):
        raise ValueError("--tokenizer and --image-processor go together: pass both, or neither")
    format = args.format or detect_format(args.source)
    options = {k: getattr(args, k) for k in ("tasks", "split", "image_folder") if getattr(args, k)}
    check = _encoder(args) or partial(_decode_only, max_frames=args.max_frames)
    policy = RowPolicy(skip_bad=True)  # count every reject; the exit code applies --skip-bad
    usable, frames = 0, Counter()
    for sample in read(args.source, format, policy, **options):
        if policy.guard(check, sample) is not None:
            usable += 1
            frames[len(sample.frames(args.max_frames))] += 1
        if (usable + policy.n_rejected) % PROGRESS_EVERY == 0:
            print(f"... {usable + policy.n_rejected} rows", file=sys.stderr)
    scope = "full encoding (template, labels, length, pixels)" if args.tokenizer else (
        "image decode + fields only (pass --tokenizer and --image-processor to check encoding too)")
    print(f"source: {args.source} (format {format})\nchecked: {scope}")
    print(f"rows read: {usable + policy.n_rejected}\nrows usable: {usable}\n{policy.summary()}")
    print(frame_summary(frames))
    if not usable:
        print("error: no usable rows: fix the data (see the reasons above) or check the path and --format",
              file=sys.stderr)
        return 1
    return 1 if policy.n_rejected and not args.skip_bad else 0


def frame_summary(frames: Counter[int]) -> str:
    """'frames: T in usable rows (per row: n images x rows, ...)' from a count of rows per frame count."""
    total = sum(count * rows for count, rows in frames.items())
    spread = ", ".join(f"{count} x {rows}" for count, rows in sorted(frames.items()))
    return f"frames: {total} in usable rows (images per row x rows: {spread or 'none'})"


def _decode_only(sample: Sample, max_frames: int | None) -> bool:
    sample.require_answer()
    sample.load_images(max_frames=max_frames)
    return True


def _encoder(args: argparse.Namespace) -> Any:
    if not args.tokenizer:
        return None
    from transformers import AutoImageProcessor, AutoTokenizer

    from gitllm.data.encode import Encoder

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    processor = AutoImageProcessor.from_pretrained(args.image_processor)
    return Encoder(tokenizer, processor, args.template, args.label_mode, args.max_length, args.max_frames)
