"""gitllm.demo: the whole mission offline in one command (`gitllm demo`, `make demo`).
Each name loads its submodule on first access.

    from gitllm.demo import run_demo, summary
    print(summary(run_demo("runs/demo")))
"""

from gitllm.lazy import lazy_getattr

_LAZY = {
    "TimeBudget": "gitllm.demo.budget",
    **dict.fromkeys(("RECIPE", "DemoResult", "run_demo", "summary"), "gitllm.demo.run"),
}

__all__ = sorted(_LAZY)
__getattr__ = lazy_getattr(__name__, _LAZY)
