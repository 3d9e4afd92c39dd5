"""Import checkpoints of other GIT-style codebases as gitllm models (`gitllm convert`).
Each name loads its submodule on first access."""

from gitllm.lazy import lazy_getattr

_LAZY = dict.fromkeys(("HERON_FAMILIES", "from_heron", "heron_processor"), "gitllm.convert.heron")

__all__ = sorted(_LAZY)
__getattr__ = lazy_getattr(__name__, _LAZY)
