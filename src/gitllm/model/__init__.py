"""The GIT-LLM model: config, projections, the GIT mask, the model, the processor.

Importing this package registers the classes with transformers' Auto classes (`gitllm.auto_register` imports
it as soon as transformers is imported after `import gitllm`)."""

# Contract: transformers is imported before any gitllm.model submodule (see gitllm.auto_register).
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
