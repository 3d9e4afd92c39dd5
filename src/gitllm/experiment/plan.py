"""An experiment's plan: its recipes x seeds, one run folder each, and where each run stands.

An experiment is a folder of training recipes (the shipped `exp1-modules/offline`, ... or any folder of YAML
files). Every run is its recipe with `seed`, `output_dir` and a legend `name` set, checkpoints every
`save_every` steps (only the last kept) so a killed run resumes, and `resume: auto`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gitllm.train.config import CONFIG_FILE_NAME, TrainConfig, load_config
from gitllm.train.recipes import recipe_names

EXPERIMENTS: dict[str, str] = {  # name -> folder of shipped recipes (`gitllm recipes list`)
    "exp1": "exp1-modules/offline",
    "exp2": "exp2-llms/offline",
    "exp3": "exp3-data/offline",
}
DEFAULT_SEEDS = (0, 1, 2)
SAVE_EVERY = 50  # optimizer steps between checkpoints (a killed run loses at most this many)
CHECKPOINT_PREFIX = "checkpoint-"

# Rough cost on one CPU thread (as under /work/bin/heavy), for --dry-run's estimate only: seconds per training
# sample by LLM (offline-base settings, Proj+LoRA, cached image features), a factor per extra trained tower, and
# seconds per test question for the three answering passes of scoring (real, shuffled and zeroed images).
TRAIN_SECONDS_PER_SAMPLE = {"smollm2-135m-instruct": 0.3, "smollm2-135m-random": 0.3, "gemma-3-270m": 0.6}
DEFAULT_SECONDS_PER_SAMPLE = 0.3
GROUP_FACTOR = {"llm": 2.0, "vit": 2.5}
SCORE_SECONDS_PER_QUESTION = 0.1


@dataclass(frozen=True)
class Run:
    """One recipe at one seed: `key` is the recipe's file stem, `label` its legend label without the seed.
    Runs compare and hash by (key, label, seed)."""

    key: str
    label: str
    seed: int
    config: TrainConfig = field(compare=False)

    @property
    def run_dir(self) -> Path:
        return Path(self.config.output_dir)


def experiment_recipes(experiment: str | Path) -> dict[str, str]:
    """{recipe key (file stem): recipe name or YAML path} of a named experiment or a folder of YAML recipes."""
    if str(experiment) in EXPERIMENTS:
        folder = EXPERIMENTS[str(experiment)] + "/"
        found = {name[len(folder):]: name for name in recipe_names(training_only=True) if name.startswith(folder)}
    elif Path(experiment).is_dir():
        found = {file.stem: str(file) for file in Path(experiment).glob("*.yaml")}
    else:
        raise ValueError(f"unknown experiment {str(experiment)!r}: use one of {', '.join(EXPERIMENTS)} "
                     "or a folder of training recipes (YAML)")
    return {key: found[key] for key in sorted(found, key=_natural)}


def _natural(key: str) -> list[tuple[int, int | str]]:
    """Sort key ordering numbers by value: easyvqa-400 before easyvqa-1600."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", key)]


def experiment_name(experiment: str | Path) -> str:
    """The experiment's short name (folder names under runs/ and docs/)."""
    return str(experiment) if str(experiment) in EXPERIMENTS else Path(experiment).name


def plan_runs(experiment: str | Path, seeds: Sequence[int] = DEFAULT_SEEDS, recipes: Sequence[str] | None = None,
              runs_dir: str | Path = "runs", overrides: Sequence[str] = (), save_every: int = SAVE_EVERY) -> list[Run]:
    """Every run of the experiment, recipe-major; `recipes` picks a subset by key, `overrides` (key=value)
    apply to every recipe. Run folders: RUNS_DIR/EXPERIMENT/KEY/seed-N."""
    available = experiment_recipes(experiment)
    chosen = list(recipes) if recipes else list(available)
    unknown = [key for key in chosen if key not in available]
    if unknown:
        raise ValueError(f"no recipe {unknown[0]!r} in experiment {experiment_name(experiment)!r}; "
                         f"its recipes: {', '.join(available)}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds must list distinct seeds, got {list(seeds)}")
    if save_every < 1:
        raise ValueError(f"--save-every must be >= 1, got {save_every}")
    runs = []
    for key in chosen:
        base = load_config(available[key], list(overrides))
        for seed in seeds:
            config = dataclasses.replace(
                base, seed=seed, output_dir=str(Path(runs_dir) / experiment_name(experiment) / key / f"seed-{seed}"),
                name=f"{base.label}, seed {seed}", resume="auto",
                save_steps=base.save_steps or save_every, save_total_limit=1,
            )
            runs.append(Run(key, base.label, seed, load_config(config)))
    return runs


def checkpoints(run: Run) -> list[Path]:
    """The run's checkpoint folders, oldest first."""
    if not run.run_dir.is_dir():
        return []
    found = [p for p in run.run_dir.iterdir() if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX)]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]))


def is_stale(run: Run) -> bool:
    """True when the run folder was trained with another config (e.g. the experiments' base recipe changed)."""
    saved = run.run_dir / CONFIG_FILE_NAME
    return saved.is_file() and dataclasses.asdict(load_config(saved)) != dataclasses.asdict(run.config)


def is_trained(run: Run) -> bool:
    from gitllm.train.engine import FINAL_DIR  # here: the `gitllm experiment` parser imports this module, not torch

    return (run.run_dir / FINAL_DIR).is_dir() and not is_stale(run)


def train_steps(config: TrainConfig) -> int:
    """Optimizer steps the run makes: max_steps, else epochs over the training split (read, not decoded)."""
    if config.max_steps > 0:
        return config.max_steps
    from gitllm.train.data import split_samples

    samples = len(split_samples(config.data, config.seed)[0])
    return math.ceil(config.epochs * math.ceil(samples / config.batch_size) / config.grad_accum)


def train_seconds(config: TrainConfig, steps: int) -> float:
    """Rough training time on one CPU thread (see TRAIN_SECONDS_PER_SAMPLE)."""
    per_sample = TRAIN_SECONDS_PER_SAMPLE.get(config.model.llm, DEFAULT_SECONDS_PER_SAMPLE)
    for group in config.groups:
        per_sample *= GROUP_FACTOR.get(group, 1.0)
    return steps * config.batch_size * config.grad_accum * per_sample
