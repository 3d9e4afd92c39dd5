"""Registers the GIT-LLM classes with transformers' Auto classes as soon as both packages are imported.

`gitllm.model` registers `GitLLMConfig`, `GitLLMForCausalLM` and `GitLLMProcessor` with `AutoConfig`,
`AutoModelForCausalLM` and `AutoProcessor` when it is imported; importing it loads torch and transformers
(seconds). So `import gitllm` does not import it. Instead, if transformers is already imported it imports
`gitllm.model` at once; otherwise it places a one-shot finder on `sys.meta_path` that imports
`gitllm.model` right after transformers' own import finishes. Either way,

    import gitllm
    from transformers import AutoModelForCausalLM
    AutoModelForCausalLM.from_pretrained("my-gitllm-folder")

works, while `import gitllm` alone (the CLI's `--help`) never pays for torch.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

TRIGGER = "transformers"
REGISTERING_MODULE = "gitllm.model"


def register_when_transformers_loads() -> None:
    """Import `gitllm.model` (which registers the Auto classes) now if transformers is loaded, else right
    after it loads. Idempotent."""
    if TRIGGER in sys.modules:
        _register()
    elif not any(isinstance(finder, _RegisterAfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())


def _register() -> None:
    # Contract: (1) `gitllm.model` imports transformers before any of its own submodules, so when transformers'
    # first import comes from inside `gitllm.model`, the package is already in sys.modules (partially
    # initialised) and registers itself when its __init__ ends; importing it here is then a no-op. (2) At module
    # level `gitllm.model` imports no other gitllm package, so a gitllm module elsewhere that is half-imported
    # when it first imports transformers is never needed here.
    if REGISTERING_MODULE not in sys.modules:
        importlib.import_module(REGISTERING_MODULE)


# Contract: the import system duck-types finders (`find_spec`) and loaders (`create_module`, `exec_module`);
# the importlib.abc base classes are not used because importing them costs more than the rest of the CLI.
class _RegisterAfterImport:
    """Finds nothing itself: hands transformers' spec from the other finders back with a loader that
    registers after transformers' __init__ has run, then steps aside (one shot)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> ModuleSpec | None:
        if fullname != TRIGGER:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


class _RegisteringLoader:
    """Runs the real loader, puts it back on the module (so nothing else ever sees this wrapper), then
    registers."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        _register()
