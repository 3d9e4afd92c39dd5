"""Model + processor from a TrainConfig: two pretrained halves (hub ids, folders, zoo names) or a GIT-LLM folder."""

from __future__ import annotations

import torch
from transformers import set_seed

from gitllm.model import GitLLMForCausalLM, GitLLMProcessor
from gitllm.model.quiet import quiet_loading
from gitllm.train.config import TrainConfig
from gitllm.train.data import set_image_size


def build_model(config: TrainConfig) -> tuple[GitLLMForCausalLM, GitLLMProcessor]:
    """The untrained starting point of a run (the projection initialised from `config.seed`), fp32; the
    processor carries the run's prompt format (`data.template`, `data.instruction`), saved with it."""
    spec = config.model
    set_seed(config.seed)
    if spec.init_from is not None:
        # A set num_image_with_embedding adds zero temporal embeddings to a checkpoint trained without them.
        frames = {"num_image_with_embedding": spec.num_image_with_embedding} if spec.num_image_with_embedding else {}
        with quiet_loading():
            model = GitLLMForCausalLM.from_pretrained(spec.init_from, dtype=torch.float32, **frames)
        processor = GitLLMProcessor.from_pretrained(spec.init_from)
    else:
        processor = GitLLMProcessor.from_parts(spec.vision, spec.llm)
        model = GitLLMForCausalLM.from_pretrained_parts(
            spec.vision, spec.llm, projection=spec.projection, keep_cls=spec.keep_cls,
            vision_feature_layer=spec.vision_feature_layer, attn_implementation=spec.attn_implementation,
            dtype=torch.float32, prefix_token_ids=processor.token_ids(spec.prefix), word_scale=spec.word_scale,
            num_image_with_embedding=spec.num_image_with_embedding,
        )
    if spec.image_size is not None:
        set_image_size(processor.image_processor, spec.image_size)
    processor.template, processor.instruction = config.data.template, config.data.instruction
    return model, processor
