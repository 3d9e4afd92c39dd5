"""gitllm: build, train, evaluate and play with GIT-style vision-language models.

`import gitllm` is cheap: the model classes (and torch, transformers) load on first attribute access, e.g.
`gitllm.GitLLMForCausalLM`. Once both gitllm and transformers are imported, in either order, `AutoConfig`,
`AutoModelForCausalLM` and `AutoProcessor` load a saved gitllm folder (see `gitllm.auto_register`).
"""

from __future__ import annotations

from gitllm.auto_register import register_when_transformers_loads
from gitllm.lazy import lazy_getattr

__version__ = "0.1.0"

_MODEL_NAMES = ("GitLLMConfig", "GitLLMForCausalLM", "GitLLMProcessor", "git_attention_mask")
__all__ = list(_MODEL_NAMES)

register_when_transformers_loads()
__getattr__ = lazy_getattr(__name__, dict.fromkeys(_MODEL_NAMES, "gitllm.model"))
