"""`gitllm` command line: one sub-command module per concern, each exposing `register(subparsers)`.

Building the parser imports no torch, transformers or matplotlib (each command imports what it needs when it
runs), so `--help` is instant. `main` turns every failure into one line, `gitllm COMMAND: error: ...`, and a
non-zero exit code; `--debug` (or GITLLM_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import NoReturn

from gitllm import __version__
from gitllm.zoo.errors import ZooError

DESCRIPTION = ("Build, train, evaluate and talk to your own vision-language model: any image encoder joined to "
               "any Hugging Face causal LM, GIT-style.")
EPILOG = "Start with `gitllm demo` (the whole tour, offline). `gitllm COMMAND --help` lists a command's options."
DEBUG_ENV = "GITLLM_DEBUG"
EXIT_ERROR = 1
EXIT_USAGE = 2  # argparse's code for a bad command line
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
# Failures a user can fix from the message alone (ImportError: an optional dependency not installed); anything
# else is a bug and says so.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, ImportError, ZooError)

# Contract: each module defines `register(subparsers: argparse._SubParsersAction) -> None`, which adds
# its sub-command(s) and sets `func=callable(args) -> int | None` as the parser default. Importing the
# module must stay cheap (heavy imports inside `func`).
COMMAND_MODULES: tuple[str, ...] = (
    "gitllm.build_cli",
    "gitllm.zoo.cli",
    "gitllm.convert.cli",
    "gitllm.data.cli",
    "gitllm.train.cli",
    "gitllm.play.cli",
    "gitllm.eval.cli",
    "gitllm.demo.cli",
    "gitllm.experiment.cli",
)


class Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line too (sub-command parsers inherit the class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="gitllm", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"gitllm {__version__}")
    parser.add_argument("--debug", action="store_true", default=False,
                        help=f"show the full traceback when a command fails (or set {DEBUG_ENV}=1)")
    subparsers = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    for command in subcommand_parsers(parser):
        # SUPPRESS: a sub-command's unset flag does not overwrite a --debug given before the command.
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the full traceback when the command fails")
        command.set_defaults(command_name=command.prog)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{args.command_name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except USER_ERRORS as err:
        if debug:
            raise
        print(f"{args.command_name}: error: {describe(err)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as err:  # a bug: still one line, and how to see more
        if debug:
            raise
        print(f"{args.command_name}: error: unexpected {type(err).__name__}: {describe(err)} "
              f"(run with --debug for the traceback)", file=sys.stderr)
        return EXIT_ERROR


def describe(err: BaseException) -> str:
    """`err` as one line: an OSError from the system names its file; line breaks become '; '."""
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        text = f"{err.strerror}: {err.filename}"
    else:
        text = str(err) or type(err).__name__
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def subcommand_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every sub-command parser below `parser`, depth first (e.g. `zoo`, `zoo list`, `zoo prepare`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in dict.fromkeys(action.choices.values()):
                yield command
                yield from subcommand_parsers(command)


if __name__ == "__main__":
    sys.exit(main())
