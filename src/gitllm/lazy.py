"""Module-level `__getattr__` for packages whose public names live in heavy submodules (torch, transformers):
the package imports in milliseconds and each name loads its submodule on first access (PEP 562)."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """`__getattr__` for `package` (call it from the package's __init__): `exports` maps a public name to the
    module that defines it.

    A name that is also its module's name (`gitllm.eval.evaluate`, the function in gitllm/eval/evaluate.py)
    would turn into the submodule once anything imports that submodule (the import system binds submodules on
    their package), so those names become properties of the package that always give the exported object."""
    shadowed = {name: module for name, module in exports.items() if module == f"{package}.{name}"}
    if shadowed:
        # Contract: one class per package, so each descriptor serves one package.
        namespace = {name: _Export(module, name) for name, module in shadowed.items()}
        sys.modules[package].__class__ = type("LazyPackage", (types.ModuleType,), namespace)

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


class _Export:
    """Package attribute `name` = `name` of `module`, imported on first access; binding the submodule itself
    (what the import system does) is ignored, any other assignment (e.g. a test's monkeypatch) is kept."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name
        self.assigned: list[Any] = []  # a value assigned by a user, which wins while it is there

    def __get__(self, package: types.ModuleType | None, owner: type | None = None) -> Any:
        if package is None:
            return self
        return self.assigned[0] if self.assigned else getattr(importlib.import_module(self.module), self.name)

    def __set__(self, package: types.ModuleType, value: Any) -> None:
        if value is not sys.modules.get(self.module):
            self.assigned[:] = [value]

    def __delete__(self, package: types.ModuleType) -> None:
        self.assigned.clear()
