"""Start-up of the `gitllm` command beside a bare interpreter, in the same run (goal: `gitllm --help` < 1 s).

Each round runs, in turn (order rotated per round), `python -c pass`, `python -c "import gitllm"`,
`gitllm --help` and `gitllm ask --help` as fresh processes; figures are the median wall time over the rounds
with its min-max, and gitllm's own cost is the per-round difference to `python -c pass`.

    .venv/bin/python bench/bench_cli.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from repeats import add_repeats_argument, interleaved, spread

GOAL_S = 1.0


def gitllm_command() -> list[str]:
    """The `gitllm` console script beside this interpreter (as a user runs it), else `python -m gitllm`."""
    script = Path(sys.executable).with_name("gitllm")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "gitllm"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_repeats_argument(parser)
    args = parser.parse_args()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import gitllm'": [sys.executable, "-c", "import gitllm"],
        "gitllm --help": [*gitllm_command(), "--help"],
        "gitllm ask --help": [*gitllm_command(), "ask", "--help"],
    }
    runs = {name: (lambda argv=argv: subprocess.run(argv, check=True, stdout=subprocess.DEVNULL))
            for name, argv in commands.items()}
    times = interleaved(runs, args.repeats)
    bare = times["python -c pass"]
    print(f"wall time of a fresh process (median, min-max over rounds); {' '.join(gitllm_command())}, "
          f"load average {os.getloadavg()[0]:.1f}")
    for name, seconds in times.items():
        extra = "" if name == "python -c pass" else (
            f"   gitllm's part: {spread([s - b for s, b in zip(seconds, bare)]).show(3, ' s')}")
        print(f"  {name:26s} {spread(seconds).show(3, ' s')}{extra}")
    verdict = "meets" if spread(times["gitllm --help"]).median < GOAL_S else "misses"
    print(f"gitllm --help {verdict} the goal of < {GOAL_S:.0f} s")


if __name__ == "__main__":
    main()
