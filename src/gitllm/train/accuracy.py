"""Answer accuracy on validation questions at every evaluation, real and image-blind (`gitllm.eval.evaluate`),
logged beside eval_loss so the curves show when the model starts to use the image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from gitllm.data import Sample
from gitllm.eval import evaluate
from gitllm.infer.generate import GenerationSettings
from gitllm.train.groups import unwrap

ANSWER_TOKENS = 8  # enough for short VQA answers (as the demo's evaluation)


def log_key(answer_type: str) -> str:
    """A metric-name form of an answer type ('negated yes/no' -> 'negated_yes_no')."""
    return answer_type.replace("/", "_").replace(" ", "_")


@dataclass
class AccuracyProbe:
    """Greedy exact match on `questions` (validation samples with a question), with the image-blind scores when
    `blind`; vision features come from the feature cache under `cache_dir` when `feature_cache`."""

    processor: Any
    questions: Sequence[Sample]
    template: str
    batch_size: int
    blind: bool = True
    feature_cache: bool = False
    cache_dir: str | None = None

    def __call__(self, model: Any) -> dict[str, float]:
        """{'eval_accuracy', 'eval_accuracy_<answer type>' ...; with `blind` also 'eval_blind_accuracy',
        'eval_zeroed_accuracy', 'eval_blind_accuracy_<answer type>'} of `model` (its training mode kept)."""
        base = unwrap(model)
        was_training = base.training
        base.eval()
        try:
            with torch.no_grad():
                metrics = evaluate(base, self.processor, self.questions, self.template,
                                   GenerationSettings(max_new_tokens=ANSWER_TOKENS), self.batch_size, progress=False,
                                   loss=False, feature_cache=self.feature_cache, cache_dir=self.cache_dir,
                                   blind=self.blind)
        finally:
            base.train(was_training)
        logs = {"eval_accuracy": metrics["vqa_exact_match"]}
        if self.blind:
            logs |= {"eval_blind_accuracy": metrics["vqa_blind_exact_match"],
                     "eval_zeroed_accuracy": metrics["vqa_zeroed_exact_match"]}
        for kind, row in metrics["vqa_by_answer_type"].items():
            logs[f"eval_accuracy_{log_key(kind)}"] = row["exact_match"]
            if self.blind:
                logs[f"eval_blind_accuracy_{log_key(kind)}"] = row["blind_exact_match"]
        return logs


def probe_questions(samples: Sequence[Sample], count: int) -> list[Sample]:
    """The first `count` samples that ask a question (captions are not scored by exact match)."""
    asked = [s for s in samples if len(s.conversation) >= 2 and s.conversation[-2].text]
    if count > 0 and not asked:
        raise ValueError("config key 'eval_accuracy': the validation samples ask no questions to score")
    return asked[:count]
