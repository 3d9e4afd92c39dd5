"""The zoo cache: where prepared folders live, how one is published atomically, and how it is checked.

A folder counts as prepared only when its completion marker (written last) names the entry and its revision.
Builds go into a temporary folder beside the target, which replaces the target in one `os.replace`, so a
killed run leaves at most a stray temporary folder (removed by the next build) and never a folder that loads.
The marker records each file's size and sha256; `damage` compares them with the folder (checksums once per
process for files that did not change since), so a file changed on disk makes the folder be prepared again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitllm.zoo.errors import CacheNotWritableError
from gitllm.zoo.registry import ZooEntry

ENV_VAR = "GITLLM_ZOO_DIR"
DEFAULT_DIR = Path("~/.cache/gitllm/zoo")
MARKER = ".gitllm-zoo-complete.json"
_PARTIAL = ".partial-"
_INTACT: set[tuple[Any, ...]] = set()  # folders whose checksums matched in this process (see `_stat_key`)


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache folder: `cache_dir` if given, else $GITLLM_ZOO_DIR, else ~/.cache/gitllm/zoo."""
    chosen = cache_dir if cache_dir is not None else os.environ.get(ENV_VAR) or DEFAULT_DIR
    return Path(chosen).expanduser()


def _marker(folder: Path) -> Any:
    try:
        return json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None


def is_complete(folder: Path, entry: ZooEntry) -> bool:
    """True when `folder` holds a finished build of this entry at its current revision (its marker says so;
    whether its files are intact is `damage`)."""
    marker = _marker(folder)
    return isinstance(marker, dict) and marker.get("name") == entry.name and marker.get("revision") == entry.revision


def file_records(folder: Path) -> dict[str, dict[str, Any]]:
    """{relative path: {"bytes", "sha256"}} of every file under `folder` but the marker."""
    return {path.relative_to(folder).as_posix(): {"bytes": path.stat().st_size, "sha256": _sha256(path)}
            for path in sorted(folder.rglob("*")) if path.is_file() and path.name != MARKER}


def damage(folder: Path, entry: ZooEntry) -> str | None:
    """What is wrong with the finished build in `folder` (a file missing, or of another size or sha256 than
    its marker records; no records: an older gitllm prepared it), or None when it is intact.

    Contract: `is_complete(folder, entry)`. Sizes are compared on every call; checksums once per process for
    files whose size and modification time did not change since."""
    records = _marker(folder).get("files")
    if not isinstance(records, dict) or not records:
        return "its marker records no file checksums (an older gitllm prepared it)"
    for name, record in records.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != record.get("bytes"):
            return f"{name} is {path.stat().st_size} bytes, not {record.get('bytes')}"
    key = _stat_key(folder, records)
    if key in _INTACT:
        return None
    for name, record in records.items():
        if _sha256(folder / name) != record.get("sha256"):
            return f"{name} does not match its sha256 (changed on disk)"
    _INTACT.add(key)
    return None


def _stat_key(folder: Path, records: dict[str, Any]) -> tuple[Any, ...]:
    stats = [(name, (folder / name).stat()) for name in sorted(records)]
    marker = (folder / MARKER).stat()
    return (str(folder.resolve()), marker.st_mtime_ns, *((n, s.st_size, s.st_mtime_ns, s.st_ino) for n, s in stats))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _intact(folder: Path, entry: ZooEntry) -> bool:
    return is_complete(folder, entry) and damage(folder, entry) is None


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
    """Build `entry` with `fill(temporary_folder)` and move the result to `root / entry.name` atomically,
    replacing a folder there that is half-written, of another revision or damaged.

    Raises CacheNotWritableError before `fill` runs when `root` cannot be created or written to.
    """
    target = root / entry.name
    try:
        root.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{entry.name}{_PARTIAL}{os.getpid()}-", dir=root))
        old = partial.with_name(partial.name + "-old")
    except OSError as err:
        raise CacheNotWritableError(
            f"cannot write to the zoo cache folder {root} ({err.strerror or err}); "
            f"choose a writable one with --cache-dir or ${ENV_VAR}"
        ) from err
    try:
        _remove_stale_partials(root, entry)
        fill(partial)
        _make_readable(partial)
        marker = {"name": entry.name, "revision": entry.revision, "sha256": entry.sha256, "created": time.time(),
                  "files": file_records(partial)}
        (partial / MARKER).write_text(json.dumps(marker))  # last: its presence vouches for every other file
        if target.exists() and not _intact(target, entry):
            # Half-written (killed run), another revision or damaged: moved aside in one rename (a reader
            # with open files keeps them), deleted below.
            try:
                os.replace(target, old)
            except FileNotFoundError:
                pass  # a concurrent run moved it first
        try:
            os.replace(partial, target)
        except OSError:
            if not _intact(target, entry):
                raise
            # A concurrent run published the same entry first: keep theirs, drop ours.
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return target
