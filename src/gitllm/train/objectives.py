"""The visual-word objective: an auxiliary loss that pulls each row's projected image tokens towards the LLM's
word embedding of the first token of its answer ("red", "circle", "cat"), so that image tokens start out as
words the pretrained LLM already reads, instead of codes it must first learn to read.

A VQA model trained on the language-model loss alone first learns the answers the question predicts by itself
(the question prior); when it starts to read the image depends on the seed. The visual-word loss gives the
projection a direct signal from the first step. It only reaches what produces the image tokens (the projection,
and the vision tower when it trains), never the LLM, and answers that say nothing about the image's content
(`yes`, `no` by default, VQA's yes/no answer type) are skipped."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gitllm.model.frames import frame_token_mask


def visual_word_loss(image_tokens: torch.Tensor, word_embeddings: torch.Tensor, targets: torch.Tensor,
                     temperature: float, token_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy of each row's target word against its image tokens' similarity to every word.

    image_tokens (B, N, D); word_embeddings (V, D); targets (B,) word ids; token_mask (B, N) bool, the tokens
    of real frames (None: all; padded frames' tokens take no part and get no gradient). Scores are cosine
    similarities divided by `temperature`, pooled over a row's tokens by log-mean-exp (a soft maximum: one
    token that looks like the word is enough)."""
    if token_mask is None:
        token_mask = torch.ones(image_tokens.shape[:2], dtype=torch.bool, device=image_tokens.device)
    words = F.normalize(word_embeddings.float(), dim=-1)
    scores = torch.full((*token_mask.shape, words.shape[0]), -math.inf, device=image_tokens.device)
    scores[token_mask] = F.normalize(image_tokens[token_mask].float(), dim=-1) @ words.T / temperature
    pooled = scores.logsumexp(dim=1) - token_mask.sum(1, keepdim=True).log()
    return F.cross_entropy(pooled, targets)


class VisualWordObjective:
    """Captures the visual projection's output during a forward and scores it against the batch's answers.

    Contract: `model` is a GitLLMForCausalLM (or a wrapper whose `visual_projection` output, reshaped to
    (B, -1, D), holds each row's image tokens), and `labels` mark each row's answer with its first non -100 id."""

    def __init__(self, model: nn.Module, tokenizer: Any, temperature: float, skip_answers: Iterable[str]) -> None:
        self.model, self.tokenizer, self.temperature = model, tokenizer, temperature
        self.skip_answers = {a.strip().lower() for a in skip_answers}
        self._skipped: dict[int, bool] = {}
        self._tokens: torch.Tensor | None = None
        model.visual_projection.register_forward_hook(self._capture)

    def _capture(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        self._tokens = output if module.training else None

    def _skips(self, token: int) -> bool:
        if token not in self._skipped:
            self._skipped[token] = self.tokenizer.decode([token]).strip().lower() in self.skip_answers
        return self._skipped[token]

    def loss(self, labels: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor | None:
        """The loss for the forward that just ran on `labels` (B, T) (and `frame_mask` (B, F) for frames), or
        None when no row has a content answer (or the forward was not a training one)."""
        tokens, self._tokens = self._tokens, None
        if tokens is None:
            return None
        answered = labels.ne(-100)
        first = labels.gather(1, answered.int().argmax(1, keepdim=True)).squeeze(1)
        keep = torch.tensor([bool(a) and not self._skips(int(t)) for a, t in zip(answered.any(1), first)],
                            device=labels.device)
        if not bool(keep.any()):
            return None
        tokens = tokens.reshape(labels.shape[0], -1, tokens.shape[-1])
        real = None if frame_mask is None else frame_token_mask(frame_mask.bool(), tokens.shape[1])
        words = self.model.language_model.get_input_embeddings().weight.detach()
        return visual_word_loss(tokens[keep], words, first[keep], self.temperature,
                                None if real is None else real[keep])
