"""Finding and checking an entry's weight file (or its chunks) inside installed packages, without importing them."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from importlib.machinery import ModuleSpec
from pathlib import Path

from gitllm.zoo.errors import CorruptPackageError, MissingPackageError
from gitllm.zoo.registry import ZooEntry, install_hint


def _spec_or_none(module: str) -> ModuleSpec | None:
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None


def _reinstall(entry: ZooEntry) -> str:
    return f"pip install --force-reinstall --no-deps {' '.join(entry.distributions)}"


def check_requirements(entry: ZooEntry) -> None:
    """Raise MissingPackageError when a module the entry's builder imports is not installed."""
    missing = [module for module in entry.requires if _spec_or_none(module) is None]
    if missing:
        raise MissingPackageError(
            f"zoo entry {entry.name!r} needs the module(s) {', '.join(missing)}; install: {install_hint()}"
        )


def locate(entry: ZooEntry) -> list[Path]:
    """Paths of the entry's weight file, or of its chunks in order, inside the installed packages (not imported)."""
    paths = []
    for file in entry.files:
        spec = _spec_or_none(file.package)
        if spec is None or not spec.submodule_search_locations:
            raise MissingPackageError(
                f"zoo entry {entry.name!r} needs the weight package {file.distribution}, which is not installed; "
                f"install: {install_hint()}"
            )
        path = Path(list(spec.submodule_search_locations)[0]) / file.path
        if not path.is_file():
            raise MissingPackageError(
                f"weight file {path} is missing from package {file.distribution}; reinstall it: {_reinstall(entry)}"
            )
        paths.append(path)
    return paths


def verify(entry: ZooEntry, paths: list[Path]) -> None:
    """Raise CorruptPackageError unless the sha256 of the files concatenated in order is the entry's."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
    if digest.hexdigest() != entry.sha256:
        size = sum(path.stat().st_size for path in paths)
        raise CorruptPackageError(
            f"weight file {' + '.join(map(str, paths))} ({size} bytes) does not match "
            f"{' '.join(entry.distributions)} (sha256 {digest.hexdigest()}, expected {entry.sha256}); "
            f"reinstall: {_reinstall(entry)}"
        )


def assemble(entry: ZooEntry, paths: list[Path], scratch: Path) -> Path:
    """The weight file itself, or, for a chunked entry, its chunks concatenated into `scratch/assembled_name`."""
    if len(paths) == 1:
        return paths[0]
    # Contract: a chunked entry names the file its chunks form.
    assert entry.assembled_name, f"zoo entry {entry.name!r} has {len(paths)} chunks but no assembled_name"
    target = scratch / entry.assembled_name
    with target.open("wb") as out:
        for path in paths:
            with path.open("rb") as chunk:
                shutil.copyfileobj(chunk, out, 1 << 20)
    return target
