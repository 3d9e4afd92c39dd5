"""Interleaved repeats and their spread, shared by the bench scripts.

Every figure a bench prints is the median over rounds in which each variant runs once, in turn (the order
rotated from round to round), so all variants see the same machine load; a ratio is taken per round (both
sides of it measured back to back) and printed as the median with the min-max over rounds. A figure is
quotable only from at least MIN_REPEATS rounds on a quiet machine (../shared/notes/benchmarks.md).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

MIN_REPEATS = 5


def add_repeats_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=MIN_REPEATS,
                        help=f"timed rounds after the warm-up (default and minimum for a quotable figure: {MIN_REPEATS})")


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(runs: Mapping[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds of every run in each of `repeats` rounds, after `warmup` untimed rounds. Round r starts at run
    r mod len(runs), so no run always follows the same one."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    names = list(runs)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(warmup + repeats):
        start = round_index % len(names)
        for name in names[start:] + names[:start]:
            took = timed(runs[name])
            if round_index >= warmup:
                seconds[name].append(took)
    return seconds


@dataclass(frozen=True)
class Spread:
    """A figure measured over rounds: its median and the min-max."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def show(self, digits: int = 2, unit: str = "") -> str:
        """e.g. '1.36x (1.33-1.40 over 5 rounds)'; fewer than MIN_REPEATS rounds say they are not quotable."""
        low, high = min(self.values), max(self.values)
        note = "" if len(self.values) >= MIN_REPEATS else f"; under {MIN_REPEATS} rounds: not quotable"
        return (f"{self.median:.{digits}f}{unit} ({low:.{digits}f}-{high:.{digits}f} over {len(self.values)} "
                f"rounds{note})")


def spread(values: Sequence[float]) -> Spread:
    return Spread(tuple(values))


def ratio(numerator: Sequence[float], denominator: Sequence[float]) -> Spread:
    """Per-round ratios numerator[i] / denominator[i] (the two measured in the same round)."""
    if len(numerator) != len(denominator):
        raise ValueError(f"{len(numerator)} vs {len(denominator)} rounds: ratios pair rounds one to one")
    return Spread(tuple(a / b for a, b in zip(numerator, denominator)))
