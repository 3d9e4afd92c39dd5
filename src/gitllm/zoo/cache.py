"""The zoo cache: where prepared folders live, and how one is published atomically.

A folder counts as prepared only when its completion marker (written last) names the entry and its revision.
Builds go into a temporary folder beside the target, which replaces the target in one `os.replace`, so a
killed run leaves at most a stray temporary folder (removed by the next build) and never a folder that loads.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gitllm.zoo.errors import CacheNotWritableError
from gitllm.zoo.registry import ZooEntry

ENV_VAR = "GITLLM_ZOO_DIR"
DEFAULT_DIR = Path("~/.cache/gitllm/zoo")
MARKER = ".gitllm-zoo-complete.json"
_PARTIAL = ".partial-"


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache folder: `cache_dir` if given, else $GITLLM_ZOO_DIR, else ~/.cache/gitllm/zoo."""
    chosen = cache_dir if cache_dir is not None else os.environ.get(ENV_VAR) or DEFAULT_DIR
    return Path(chosen).expanduser()


def is_complete(folder: Path, entry: ZooEntry) -> bool:
    """True when `folder` holds a finished build of this entry at its current revision."""
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("name") == entry.name and marker.get("revision") == entry.revision


def folder_size(folder: Path) -> int:
    """Total bytes of the files under `folder`."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _remove_stale_partials(root: Path, entry: ZooEntry) -> None:
    """Delete temporary folders that killed builds of this entry left behind (their process is gone)."""
    for folder in root.glob(f".{entry.name}{_PARTIAL}*"):
        pid = folder.name[len(f".{entry.name}{_PARTIAL}") :].split("-", 1)[0]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, PermissionError):
            continue  # not ours to judge: unparsable name, or a live process of another user


def _make_readable(folder: Path) -> None:
    """Give the build the permissions of an ordinary folder (mkdtemp makes it private), for shared caches."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else path.stat().st_mode | 0o444)


def publish(root: Path, entry: ZooEntry, fill: Callable[[Path], None]) -> Path:
    """Build `entry` with `fill(temporary_folder)` and move the result to `root / entry.name` atomically.

    Raises CacheNotWritableError before `fill` runs when `root` cannot be created or written to.
    """
    target = root / entry.name
    try:
        root.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{entry.name}{_PARTIAL}{os.getpid()}-", dir=root))
    except OSError as err:
        raise CacheNotWritableError(
            f"cannot write to the zoo cache folder {root} ({err.strerror or err}); "
            f"choose a writable one with --cache-dir or ${ENV_VAR}"
        ) from err
    try:
        _remove_stale_partials(root, entry)
        fill(partial)
        _make_readable(partial)
        marker = {"name": entry.name, "revision": entry.revision, "sha256": entry.sha256, "created": time.time()}
        (partial / MARKER).write_text(json.dumps(marker))  # last: its presence vouches for every other file
        if target.exists() and not is_complete(target, entry):
            shutil.rmtree(target)  # half-written (killed run) or another revision: redone
        try:
            os.replace(partial, target)
        except OSError:
            if not is_complete(target, entry):
                raise
            # A concurrent run published the same entry first: keep theirs, drop ours.
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target
