"""The recipes shipped inside the package (`gitllm/recipes/`), addressed by name.

A name is a recipe's path under that folder, with or without `.yaml`: `exp1-modules/offline/proj+lora`,
`demo/easyvqa`, `accelerate/ddp-8gpu` (an `accelerate launch --config_file` file, not a training config).
A path to an existing file always wins over a name, so a user's own recipe is read as it is.
"""

from __future__ import annotations

import difflib
from pathlib import Path

RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"
LAUNCHER_FOLDER = "accelerate"  # accelerate launcher configs, not training configs
SUFFIXES = (".yaml", ".json")


def recipe_names(training_only: bool = False) -> list[str]:
    """Every shipped recipe's name, sorted (`.yaml` dropped, `.json` kept); `training_only` leaves out the
    accelerate launcher configs."""
    names = []
    for path in sorted(RECIPES_DIR.rglob("*")):
        if path.suffix not in SUFFIXES or not path.is_file():
            continue
        name = path.relative_to(RECIPES_DIR).as_posix()
        if training_only and name.startswith(LAUNCHER_FOLDER + "/"):
            continue
        names.append(name.removesuffix(".yaml"))
    return names


def recipe_path(source: str | Path) -> Path:
    """`source` itself when it is an existing file, else the shipped recipe of that name.

    Raises ValueError naming close matches when it is neither."""
    path = Path(source).expanduser()
    if path.is_file():
        return path
    name = path.as_posix().removesuffix(".yaml")
    for candidate in (RECIPES_DIR / f"{name}.yaml", RECIPES_DIR / name):
        # Contract: a name never leaves the recipes folder (no `../` escapes, no absolute paths).
        if candidate.is_file() and candidate.resolve().is_relative_to(RECIPES_DIR):
            return candidate
    close = difflib.get_close_matches(name, recipe_names(), n=3, cutoff=0.5)
    hint = f"close matches: {', '.join(close)}; " if close else ""
    raise ValueError(f"config file {str(source)!r} does not exist and is no shipped recipe ({hint}"
                     "`gitllm recipes list` lists them)")
