"""Module-level `__getattr__` for packages whose public names live in heavy submodules (torch, transformers):
the package imports in milliseconds and each name loads its submodule on first access (PEP 562)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """`__getattr__` for `package`: `exports` maps a public name to the module that defines it."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
