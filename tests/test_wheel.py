"""The built wheel works on its own: installed into a fresh virtualenv and run from a folder outside the repository,
`gitllm demo --help` runs and every shipped recipe loads by name from the installed package.

The new virtualenv borrows the dependencies (torch, transformers, ...) of the running one through a `.pth`
line; a `.pth` line adds a folder without running that folder's own `.pth` files, so the running environment's
editable gitllm stays out and only the wheel's copy can be imported.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

from gitllm.train.recipes import recipe_names

REPO = Path(__file__).resolve().parents[1]
SNIPPET = """
import json, gitllm
from gitllm.demo import RECIPE
from gitllm.train import load_config
from gitllm.train.recipes import recipe_names
names = recipe_names(training_only=True)
for name in names:
    load_config(name)
print(json.dumps({"file": gitllm.__file__, "names": recipe_names(), "demo": load_config(RECIPE).name}))
"""


def _run(command: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_wheel_installs_into_a_fresh_venv_and_runs_outside_the_repo(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_ROOT_USER_ACTION="ignore", PIP_NO_INDEX="1")
    source = tmp_path / "source"  # a copy, so building leaves no build/ or egg-info in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "docs/package.md"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist",
          source], tmp_path, env)
    (wheel,) = (tmp_path / "dist").glob("gitllm-*.whl")
    with zipfile.ZipFile(wheel) as archive:  # the package index shows this description: no relative image links
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        description = archive.read(metadata).decode()
    assert "gitllm demo" in description and not re.search(r"!\[[^\]]*\]\((?!https?://)", description)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env)
    python = venv / "bin" / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, env).strip())
    (purelib / "borrowed-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", wheel], tmp_path, env)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert "--config" in _run([venv / "bin" / "gitllm", "demo", "--help"], outside, env)
    assert _run([venv / "bin" / "gitllm", "recipes", "list"], outside, env).split() == recipe_names()
    loaded = json.loads(_run([python, "-c", SNIPPET], outside, env).splitlines()[-1])
    assert Path(loaded["file"]).resolve().is_relative_to(venv.resolve()), loaded["file"]
    assert loaded["names"] == recipe_names() and loaded["demo"] == "demo (proj+lora)"
