"""Answers from a model: prompts through gitllm.data's templates, batched (left-padded) or streamed generation."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

from gitllm.data import Collator, Encoder, Sample, Turn
from gitllm.data.images import ImageSource
from gitllm.model import GitLLMForCausalLM, GitLLMProcessor

STREAM_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class GenerationSettings:
    """What a person tunes in a playground; temperature 0 means greedy (or beam search with num_beams > 1)."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    num_beams: int = 1

    def __post_init__(self) -> None:
        checks = {
            "max_new_tokens must be 1..4096": 1 <= self.max_new_tokens <= 4096,
            "temperature must be 0..5": 0.0 <= self.temperature <= 5.0,
            "top_p must be in (0, 1]": 0.0 < self.top_p <= 1.0,
            "num_beams must be 1..8": 1 <= self.num_beams <= 8,
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise ValueError("; ".join(failed) + f" (got {asdict(self)})")

    def kwargs(self, tokenizer: Any) -> dict[str, Any]:
        """Keyword arguments for `GitLLMForCausalLM.generate`."""
        sample = self.temperature > 0
        extra = {"temperature": self.temperature, "top_p": self.top_p} if sample else {}
        return dict(max_new_tokens=self.max_new_tokens, do_sample=sample, num_beams=self.num_beams,
                    pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, **extra)


def question_sample(image: ImageSource | Sequence[ImageSource], question: str | Sequence[Turn],
                    instruction: str = "", row_id: str = "0") -> Sample:
    """A prompt Sample from an image (or several, read as frames in order) and a question (or a conversation
    ending with the user's turn).

    An empty question or image list is a ValueError: there is nothing to answer."""
    images = list(image) if isinstance(image, (list, tuple)) else [image]
    if not images:
        raise ValueError("no image: give at least one")
    turns = [Turn("user", question)] if isinstance(question, str) else list(question)
    if not turns or turns[-1].role != "user":
        raise ValueError("the conversation must end with the user's question")
    if not turns[-1].text.strip():
        raise ValueError("the question is empty: ask something about the image")
    return Sample("play", row_id, images, instruction, turns=turns)


def prompt_batch(processor: GitLLMProcessor, samples: Sequence[Sample], template: str | None = None,
                 vision_features: Sequence[torch.Tensor] | None = None,
                 max_frames: int | None = None) -> dict[str, torch.Tensor]:
    """Prompts up to the answer cue, left-padded: input_ids/attention_mask (B, T), pixel_values (B, 3, H, W)
    or, when given (one (N, Dv) per sample), vision_features (B, N, Dv); samples with several images give
    frames (B, F, ...) and frame_mask (B, F), `max_frames` per sample at most (see `Collator`). `template`
    None: the processor's (the format the model was trained with)."""
    encoder = Encoder(processor.tokenizer, processor.image_processor, template or processor.template,
                      max_frames=max_frames)
    if vision_features is None:
        rows = [encoder.prompt(sample) for sample in samples]
    else:
        rows = [encoder.prompt_text(s) | {"vision_features": f} for s, f in zip(samples, vision_features, strict=True)]
    return Collator.for_tokenizer(processor.tokenizer)(rows)


def generate_tokens(
    model: GitLLMForCausalLM,
    processor: GitLLMProcessor,
    samples: Sequence[Sample],
    template: str | None = None,
    settings: GenerationSettings = GenerationSettings(),
    batch_size: int = 8,
    progress: bool = False,
    vision_features: Sequence[torch.Tensor] | None = None,
) -> list[list[int]]:
    """New token ids per sample (up to, not including, EOS), `batch_size` prompts at a time, in order;
    `vision_features` (one (N, Dv) per sample, e.g. `gitllm.infer.features.sample_features`) replace pixels."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    rows: list[list[int]] = []
    with tqdm(total=len(samples), desc="answering", unit="q", disable=not progress) as bar:
        for start in range(0, len(samples), batch_size):
            chunk = slice(start, start + batch_size)
            batch = prompt_batch(processor, samples[chunk], template,
                                 None if vision_features is None else vision_features[chunk],
                                 model.config.num_image_with_embedding)
            rows += generate_batch(model, processor.tokenizer, batch, settings)
            bar.update(len(batch["input_ids"]))
    return rows


def generate_batch(model: GitLLMForCausalLM, tokenizer: Any, batch: dict[str, torch.Tensor],
                   settings: GenerationSettings, **generate_kwargs: Any) -> list[list[int]]:
    """New token ids (up to, not including, EOS) for each row of a `prompt_batch`; `generate_kwargs` (a
    streamer, stopping criteria) go to `model.generate`."""
    eos = tokenizer.eos_token_id
    rows = model.generate(**batch, **settings.kwargs(tokenizer), **generate_kwargs).tolist()
    return [row[: row.index(eos)] if eos in row else row for row in rows]


def generate_answers(
    model: GitLLMForCausalLM,
    processor: GitLLMProcessor,
    samples: Sequence[Sample],
    template: str | None = None,
    settings: GenerationSettings = GenerationSettings(),
    batch_size: int = 8,
    progress: bool = False,
    vision_features: Sequence[torch.Tensor] | None = None,
) -> list[str]:
    """One answer text per sample (see `generate_tokens`)."""
    rows = generate_tokens(model, processor, samples, template, settings, batch_size, progress, vision_features)
    return [text.strip() for text in processor.tokenizer.batch_decode(rows, skip_special_tokens=True)]


def ask(
    model: GitLLMForCausalLM,
    processor: GitLLMProcessor,
    images: Sequence[ImageSource | Sequence[ImageSource]],
    questions: Sequence[str],
    template: str | None = None,
    instruction: str | None = None,
    batch_size: int = 8,
    progress: bool = False,
    **settings: Any,
) -> list[str]:
    """Answer `questions[i]` about `images[i]` (a path, bytes or PIL image, or a list of them read together as
    frames); `settings`: GenerationSettings fields. `template` / `instruction` None: the processor's (the
    prompt format the model was trained with)."""
    if len(images) != len(questions):
        raise ValueError(f"{len(images)} images but {len(questions)} questions (one image or image list per "
                         "question)")
    instruction = processor.instruction if instruction is None else instruction
    samples = [question_sample(image, q, instruction, str(i)) for i, (image, q) in enumerate(zip(images, questions))]
    return generate_answers(model, processor, samples, template, GenerationSettings(**settings), batch_size, progress)


def stream_answer(
    model: GitLLMForCausalLM,
    processor: GitLLMProcessor,
    sample: Sample,
    template: str | None = None,
    settings: GenerationSettings = GenerationSettings(),
) -> Iterator[str]:
    """Text pieces of one answer as they are generated (TextIteratorStreamer); errors re-raise here.

    Beam search cannot stream (the best beam is known only at the end): it yields the whole answer once."""
    if settings.num_beams > 1:
        yield generate_answers(model, processor, [sample], template, settings)[0]
        return
    batch = prompt_batch(processor, [sample], template, max_frames=model.config.num_image_with_embedding)
    streamer = TextIteratorStreamer(processor.tokenizer, skip_prompt=True, skip_special_tokens=True,
                                    timeout=STREAM_TIMEOUT_S)
    failure: list[BaseException] = []
    cancel = threading.Event()

    def run() -> None:
        try:
            model.generate(**batch, **settings.kwargs(processor.tokenizer), streamer=streamer,
                           stopping_criteria=StoppingCriteriaList([Cancelled(cancel)]))
        except BaseException as err:  # surfaced to the caller after the stream ends
            failure.append(err)
            streamer.end()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield from streamer
    finally:
        # Contract: when this generator ends (also when its consumer goes away), generation has stopped.
        cancel.set()
        thread.join()
    if failure:
        raise failure[0]


class Cancelled(StoppingCriteria):
    """Stops generation once `event` is set (the reader of a stream went away)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)
