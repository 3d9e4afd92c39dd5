"""`gitllm` command line: one sub-command module per concern, each exposing `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Contract: each module defines `register(subparsers: argparse._SubParsersAction) -> None`, which adds
# its sub-command(s) and sets `func=callable(args) -> int | None` as the parser default.
COMMAND_MODULES: tuple[str, ...] = (
    "gitllm.model.cli",
    "gitllm.zoo.cli",
    "gitllm.convert.cli",
    "gitllm.data.cli",
    "gitllm.train.cli",
    "gitllm.play.cli",
    "gitllm.eval.cli",
    "gitllm.demo.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gitllm", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
