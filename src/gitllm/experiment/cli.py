"""`gitllm experiment EXP`: every recipe of an experiment x seeds, trained, scored and tabulated; resumable."""

from __future__ import annotations

import argparse
import shlex
import sys

from gitllm.experiment.plan import DEFAULT_SEEDS, EXPERIMENTS, SAVE_EVERY
from gitllm.experiment.score import TEST_SET


def _ints(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "experiment", help="run an experiment's recipes x seeds (resumable), score them, write its results page",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("experiment", help=f"{', '.join(f'{k} ({v})' for k, v in EXPERIMENTS.items())}, "
                                           "or a folder of training recipes")
    parser.add_argument("overrides", nargs="*", help="training-config key=value overrides for every run")
    parser.add_argument("--seeds", type=_ints, default=",".join(map(str, DEFAULT_SEEDS)), help="comma-separated seeds")
    parser.add_argument("--recipes", type=_names, help="comma-separated recipe names; none: all of them")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and its rough cost, run nothing")
    parser.add_argument("--eval-data", default=TEST_SET, help="the test set every run is scored on")
    parser.add_argument("--eval-limit", type=int, help="score the first N questions only (smoke tests); none: all")
    parser.add_argument("--runs-dir", default="runs", help="run folders: RUNS_DIR/EXPERIMENT/RECIPE/seed-N")
    parser.add_argument("--docs-dir", default="docs", help="results page and PNGs: DOCS_DIR/EXPERIMENT/")
    parser.add_argument("--save-every", type=int, default=SAVE_EVERY, help="checkpoint interval in steps")
    parser.add_argument("--redo-stale", action="store_true",
                        help="delete and redo runs trained with another config (e.g. after the base recipe changed)")
    parser.set_defaults(func=run)


def reproducing_command(args: argparse.Namespace) -> str:
    """The command line that redoes these runs (quoted on the results page)."""
    words = ["gitllm", "experiment", str(args.experiment), *args.overrides, "--seeds", ",".join(map(str, args.seeds))]
    if args.recipes:
        words += ["--recipes", ",".join(args.recipes)]
    if args.eval_data != TEST_SET:
        words += ["--eval-data", args.eval_data]
    if args.eval_limit is not None:
        words += ["--eval-limit", str(args.eval_limit)]
    return shlex.join(words)


def run(args: argparse.Namespace) -> int:
    from gitllm.experiment.plan import plan_runs
    from gitllm.experiment.run import describe_plan, run_experiment

    if args.eval_limit is not None and args.eval_limit < 1:
        raise SystemExit("gitllm experiment: error: --eval-limit must be >= 1")
    try:
        if args.dry_run:
            runs = plan_runs(args.experiment, args.seeds, args.recipes, args.runs_dir, args.overrides, args.save_every)
            print(describe_plan(runs, args.eval_data, args.eval_limit))
            return 0
        result = run_experiment(args.experiment, args.seeds, args.recipes, args.runs_dir, args.docs_dir,
                                args.overrides, args.eval_data, args.eval_limit, args.save_every, args.redo_stale,
                                command=reproducing_command(args))
    except ValueError as err:
        print(f"gitllm experiment: error: {err}", file=sys.stderr)
        return 2
    print(f"trained {len(result.trained)}, resumed {len(result.resumed)}, scored {len(result.scored)} of "
          f"{len(result.runs)} runs; results -> {result.results}")
    return 0
