"""A machine's speed as one number, printed beside wall times so times from different machines compare."""

from __future__ import annotations

import time

import torch


def matmul_peak(size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of an fp32 (size, size) @ (size, size) matmul on torch's current threads, best of `repeats`."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best
