"""gitllm: build, train, evaluate and play with GIT-style vision-language models."""

from gitllm.model import GitLLMConfig, GitLLMForCausalLM, GitLLMProcessor, git_attention_mask

__all__ = ["GitLLMConfig", "GitLLMForCausalLM", "GitLLMProcessor", "git_attention_mask"]
__version__ = "0.1.0"
