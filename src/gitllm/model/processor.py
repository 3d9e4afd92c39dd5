"""`GitLLMProcessor`: the vision encoder's image processor + the LLM's tokenizer, saved and loaded together."""

from __future__ import annotations

from typing import Any

from PIL import Image
from transformers import BatchFeature, ProcessorMixin

from gitllm.data.frames import stack_frames
from gitllm.data.templates import TEMPLATES

DEFAULT_TEMPLATE = "git-llm"


class GitLLMProcessor(ProcessorMixin):
    """Turns images and prompts into model inputs: pixel_values (B, C, H, W), input_ids and attention_mask
    (B, T), text left-padded (the model's `[pad][image][text]` layout; generation continues at the right).
    Several images per row (a list of image lists) give pixel_values (B, F, C, H, W) and frame_mask (B, F).

    `template` (a `gitllm.data.TEMPLATES` id) and `instruction` are the prompt format the model was trained
    with; they are saved in processor_config.json, and every prompt built from this processor uses them
    unless told otherwise."""

    def __init__(self, image_processor: Any = None, tokenizer: Any = None, template: str = DEFAULT_TEMPLATE,
                 instruction: str = "", **kwargs: Any) -> None:
        super().__init__(image_processor, tokenizer, **kwargs)
        if template not in TEMPLATES:
            raise ValueError(f"unknown prompt template {template!r}; known: {sorted(TEMPLATES)}")
        self.template, self.instruction = template, instruction
        if self.tokenizer.pad_token is None:
            # Contract: batching needs a pad token; padding is never attended, so EOS serves.
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"

    @classmethod
    def from_parts(cls, vision: str, llm: str) -> "GitLLMProcessor":
        """Build from the two halves' folders (or hub ids / zoo names), like `from_pretrained_parts`."""
        from transformers import AutoImageProcessor, AutoTokenizer

        from gitllm.zoo import resolve

        return cls(AutoImageProcessor.from_pretrained(resolve(vision)), AutoTokenizer.from_pretrained(resolve(llm)))

    def token_ids(self, text: str) -> list[int]:
        """`text` as LLM token ids without added special tokens (e.g. for `GitLLMConfig.prefix_token_ids`)."""
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    def __call__(
        self,
        images: Image.Image | list[Image.Image] | list[list[Image.Image]] | None = None,
        text: str | list[str] | None = None,
        add_special_tokens: bool = True,
        **kwargs: Any,
    ) -> BatchFeature:
        if images is None and text is None:
            raise ValueError("pass images, text or both")
        data: dict[str, Any] = {}
        if text is not None:
            data.update(self.tokenizer(text, padding=True, add_special_tokens=add_special_tokens,
                                       return_tensors="pt", **kwargs))
        if isinstance(images, list) and any(isinstance(row, (list, tuple)) for row in images):
            rows = [list(row) if isinstance(row, (list, tuple)) else [row] for row in images]
            frames = [[self.image_processor(image, return_tensors="pt")["pixel_values"][0] for image in row]
                      for row in rows]
            data["pixel_values"], data["frame_mask"] = stack_frames(frames)
        elif images is not None:
            data.update(self.image_processor(images, return_tensors="pt"))
        return BatchFeature(data)
