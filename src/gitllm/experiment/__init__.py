"""gitllm.experiment: the seed's experiments offline, one command each: every recipe of an experiment x seeds,
trained (resumable) and scored on the test set with the image-blind score beside the accuracy, then a results
page (mean and spread over seeds) and loss curves. Each name loads its submodule on first access.

    gitllm experiment exp1 --dry-run              # the plan and its rough cost
    gitllm experiment exp2 --seeds 0,1,2          # trains, scores, writes docs/exp2/results.md + PNGs
"""

from gitllm.lazy import lazy_getattr

_LAZY = {
    **dict.fromkeys(("EXPERIMENTS", "Run", "plan_runs"), "gitllm.experiment.plan"),
    **dict.fromkeys(("ExperimentResult", "describe_plan", "run_experiment"), "gitllm.experiment.run"),
}

__all__ = sorted(_LAZY)
__getattr__ = lazy_getattr(__name__, _LAZY)
