"""gitllm.data: readers -> Sample -> Encoder (template, labels, pixels) -> Collator.

Cheap to import: torch-dependent pieces load on first attribute access.

    from itertools import islice
    from gitllm.data import Collator, Encoder, read
    encoder = Encoder(tokenizer, image_processor, template="git-llm")
    batch = Collator.for_tokenizer(tokenizer)([encoder(s) for s in islice(read("easyvqa:train"), 8)])
"""

from __future__ import annotations

from gitllm.data.images import ImageError, load_image
from gitllm.data.readers import READERS, detect_format, read
from gitllm.data.rows import REASONS, BadRowError, RowPolicy
from gitllm.data.schema import Base64Image, Sample, Turn
from gitllm.data.templates import TEMPLATES, get_template
from gitllm.lazy import lazy_getattr

_LAZY = {
    "Encoder": "gitllm.data.encode",
    "encode_sample": "gitllm.data.encode",
    "encode_prompt": "gitllm.data.encode",
    "IGNORE_INDEX": "gitllm.data.encode",
    "Collator": "gitllm.data.collate",
    "LengthGroupedSampler": "gitllm.data.sampler",
    "group_by_length": "gitllm.data.sampler",
    "EncodedStream": "gitllm.data.dataset",
    "EncodedDataset": "gitllm.data.dataset",
    "PixelTransform": "gitllm.data.pixels",
}

__all__ = [
    "READERS", "REASONS", "TEMPLATES", "Base64Image", "BadRowError", "ImageError", "RowPolicy", "Sample", "Turn",
    "detect_format", "get_template", "load_image", "read", *_LAZY,
]


__getattr__ = lazy_getattr(__name__, _LAZY)
