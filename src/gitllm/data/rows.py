"""Bad-row reporting: one error type naming the row and the reason, and the policy that raises or counts it."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

# Every reason a row can be rejected for; `data check` prints counts keyed by these.
REASONS: tuple[str, ...] = (
    "bad_file",          # the file cannot be read on from here (corrupt parquet, not UTF-8 text, not a JSON array)
    "bad_json",          # the row itself does not parse
    "missing_field",     # a required field is absent or has the wrong type
    "empty_answer",      # nothing to train on
    "bad_conversation",  # turns do not alternate user/assistant or do not end with the assistant
    "bad_base64",        # image string is not valid base64
    "empty_image",       # zero-byte image data or file
    "not_an_image",      # bytes that no image decoder recognises
    "truncated_image",   # image data ends early or is corrupt
    "image_too_large",   # over the decompression-bomb pixel limit
    "bad_aspect_ratio",  # one side over MAX_ASPECT times the other: nothing of it survives resizing
    "image_not_found",   # the referenced image file does not exist
    "too_long",          # the encoded text exceeds max_length (an answer is never cut)
    "frame_sizes",       # a sample's frames come out of the image processor at different sizes
)


class BadRowError(ValueError):
    """A row that cannot become a correct training sample; the message names source, row id and reason."""

    def __init__(self, source: str, row_id: str, reason: str, detail: str) -> None:
        # Contract: reasons come from the closed list so counts stay comparable across sources.
        assert reason in REASONS, reason
        self.source, self.row_id, self.reason, self.detail = source, row_id, reason, detail
        super().__init__(f"{source} row {row_id}: {reason}: {detail}")


@dataclass
class RowPolicy:
    """What to do with a bad row: raise it (default) or, with `skip_bad`, count it and go on.

    `examples` keeps the first `keep_examples` rejections so a summary can show where to look.
    """

    skip_bad: bool = False
    keep_examples: int = 5
    rejected: Counter[str] = field(default_factory=Counter)
    examples: list[BadRowError] = field(default_factory=list)

    def guard(self, fn: Callable[..., T], *args: object) -> T | None:
        """`fn(*args)`, or None when it raised BadRowError and the policy skips bad rows."""
        try:
            return fn(*args)
        except BadRowError as err:
            self.reject(err)
            return None

    def reject(self, err: BadRowError) -> None:
        """Raise `err`, or with `skip_bad` count it (and keep it as an example)."""
        if not self.skip_bad:
            raise err
        self.rejected[err.reason] += 1
        if len(self.examples) < self.keep_examples:
            self.examples.append(err)

    @property
    def n_rejected(self) -> int:
        return sum(self.rejected.values())

    def summary(self) -> str:
        """Counts per reason, then the first examples, one per line."""
        lines = [f"rows rejected: {self.n_rejected}"]
        lines += [f"  {reason}: {n}" for reason, n in sorted(self.rejected.items())]
        lines += [f"  e.g. {err}" for err in self.examples]
        return "\n".join(lines)

    def report(self) -> None:
        """Print the summary to stderr when anything was skipped."""
        if self.n_rejected:
            print(f"gitllm.data: skipped bad rows\n{self.summary()}", file=sys.stderr)
