"""Import checkpoints of other GIT-style codebases as gitllm models (`gitllm convert`)."""

from gitllm.convert.heron import HERON_FAMILIES, from_heron, heron_processor

__all__ = ["HERON_FAMILIES", "from_heron", "heron_processor"]
