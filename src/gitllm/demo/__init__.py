"""gitllm.demo: the whole mission offline in one command (`gitllm demo`, `make demo`).

    from gitllm.demo import run_demo, summary
    print(summary(run_demo("runs/demo")))
"""

from gitllm.demo.budget import TimeBudget
from gitllm.demo.run import RECIPE, DemoResult, run_demo, summary

__all__ = ["RECIPE", "DemoResult", "TimeBudget", "run_demo", "summary"]
