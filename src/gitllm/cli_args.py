"""Argument types shared by the `gitllm` sub-commands: a bad value is an argparse usage error before anything
loads."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """argparse `type=`: an integer of at least 1 (a count of samples, a batch size)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
