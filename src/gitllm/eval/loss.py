"""Validation loss and perplexity: the training loss (answer tokens by default), token-weighted over a set."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from gitllm.data import Collator, Encoder, IGNORE_INDEX, Sample
from gitllm.model import GitLLMForCausalLM, GitLLMProcessor


@torch.no_grad()
def validation_loss(model: GitLLMForCausalLM, processor: GitLLMProcessor, samples: Sequence[Sample],
                    template: str | None = None, batch_size: int = 8, progress: bool = False,
                    vision_features: Sequence[torch.Tensor] | None = None) -> dict[str, float]:
    """{'loss': mean cross-entropy per labelled token, 'perplexity': exp(loss), 'tokens': labelled tokens};
    `vision_features` (one (N, Dv), or (F, N, Dv) for frames, per sample) replace pixels; `template` None: the
    processor's."""
    encoder = Encoder(processor.tokenizer, processor.image_processor, template or processor.template,
                      max_frames=model.config.num_image_with_embedding)
    collate = Collator.for_tokenizer(processor.tokenizer)
    total, tokens = 0.0, 0
    for start in tqdm(range(0, len(samples), batch_size), desc="validation loss", disable=not progress):
        chunk = samples[start : start + batch_size]
        if vision_features is None:
            rows = [encoder(sample) for sample in chunk]
        else:
            features = vision_features[start : start + batch_size]
            rows = [encoder.text(sample) | {"vision_features": f} for sample, f in zip(chunk, features, strict=True)]
        batch = collate(rows)
        # Contract: the model's loss is the mean over exactly these labelled next-token targets.
        real = batch["attention_mask"].bool()
        count = int(((batch["labels"][:, 1:] != IGNORE_INDEX) & real[:, :-1] & real[:, 1:]).sum())
        total += float(model(**batch).loss) * count
        tokens += count
    assert tokens > 0, "no labelled tokens to score"
    return {"loss": total / tokens, "perplexity": math.exp(total / tokens), "tokens": tokens}
