"""`TimeBudget`: a Trainer callback that ends training after a wall-time budget."""

from __future__ import annotations

import time
from typing import Any

from transformers import TrainerCallback


class TimeBudget(TrainerCallback):
    """Stops training once `seconds` have passed since it began (the demo's wall-time guard)."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.start = seconds, 0.0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.start = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if time.perf_counter() - self.start > self.seconds:
            control.should_training_stop = True
