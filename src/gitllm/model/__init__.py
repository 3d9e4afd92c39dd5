"""The GIT-LLM model: config, projections, the GIT mask, the model, the processor."""

from transformers import AutoConfig, AutoModelForCausalLM, AutoProcessor

from gitllm.model.config import GitLLMConfig
from gitllm.model.mask import git_attention_mask
from gitllm.model.modeling import GitLLMForCausalLM, GitLLMOutput
from gitllm.model.processor import GitLLMProcessor
from gitllm.model.projection import PROJECTIONS, build_projection

AutoConfig.register(GitLLMConfig.model_type, GitLLMConfig, exist_ok=True)
AutoModelForCausalLM.register(GitLLMConfig, GitLLMForCausalLM, exist_ok=True)
AutoProcessor.register(GitLLMConfig, GitLLMProcessor, exist_ok=True)

__all__ = [
    "GitLLMConfig",
    "GitLLMForCausalLM",
    "GitLLMOutput",
    "GitLLMProcessor",
    "PROJECTIONS",
    "build_projection",
    "git_attention_mask",
]
