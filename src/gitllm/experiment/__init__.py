"""gitllm.experiment: the seed's experiments offline, one command each: every recipe of an experiment x seeds,
trained (resumable) and scored on the test set with the image-blind score beside the accuracy, then a results
page (mean and spread over seeds) and loss curves.

    gitllm experiment exp1 --dry-run              # the plan and its rough cost
    gitllm experiment exp2 --seeds 0,1,2          # trains, scores, writes docs/exp2/results.md + PNGs
"""

from gitllm.experiment.plan import EXPERIMENTS, Run, plan_runs
from gitllm.experiment.run import ExperimentResult, describe_plan, run_experiment

__all__ = ["EXPERIMENTS", "ExperimentResult", "Run", "describe_plan", "plan_runs", "run_experiment"]
