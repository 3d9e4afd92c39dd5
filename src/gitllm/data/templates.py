"""Prompt templates by id: each renders (instruction, turns) to text, optionally ending with the answer cue.

A template is a function `render(instruction, turns, tokenizer, add_generation_prompt) -> str`.
Contract (checked by gitllm.data.encode): rendering is prefix-stable, i.e. the text for turns[:k] with the
generation cue is a prefix of the text for turns[:k+1], so answer spans can be found by difference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gitllm.data.schema import Turn

Template = Callable[[str, Sequence[Turn], Any, bool], str]


def git_llm(instruction: str, turns: Sequence[Turn], tokenizer: Any, add_generation_prompt: bool) -> str:
    """The seed's format: `##Instruction: {instruction} ##Question: {inputs} ##Answer: {outputs}<eos>`.

    Later turns continue with ` ##Question: ... ##Answer: ...<eos>`; the cue is ` ##Answer:`.
    """
    text = f"##Instruction: {instruction}"
    for turn in turns:
        text += f" ##Question: {turn.text}" if turn.role == "user" else f" ##Answer: {turn.text}{tokenizer.eos_token}"
    return text + " ##Answer:" if add_generation_prompt else text


def qa(instruction: str, turns: Sequence[Turn], tokenizer: Any, add_generation_prompt: bool) -> str:
    """The shortest prompt: `{instruction} Question: {inputs} Answer: {outputs}<eos>` (6 tokens fewer than
    git-llm with SmolLM2: every step and every answer is that much cheaper); the cue is ` Answer:`."""
    text = instruction
    for turn in turns:
        text += f" Question: {turn.text}" if turn.role == "user" else f" Answer: {turn.text}{tokenizer.eos_token}"
    text = text + " Answer:" if add_generation_prompt else text
    return text.lstrip()


def chat(instruction: str, turns: Sequence[Turn], tokenizer: Any, add_generation_prompt: bool) -> str:
    """The tokenizer's own chat template; the instruction opens the first user message."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"template 'chat' needs a tokenizer with a chat template; {type(tokenizer).__name__} has none")
    messages = [{"role": t.role, "content": t.text} for t in turns]
    if instruction and messages:
        messages[0]["content"] = f"{instruction}\n{messages[0]['content']}".strip()
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


TEMPLATES: dict[str, Template] = {"git-llm": git_llm, "qa": qa, "chat": chat}


def get_template(name: str) -> Template:
    if name not in TEMPLATES:
        raise ValueError(f"unknown template {name!r}; known: {sorted(TEMPLATES)}")
    return TEMPLATES[name]
