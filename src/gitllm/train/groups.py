"""Trainable groups, picked by id: which parameters of a GIT-LLM train, LoRA confined to one tower by path.

`apply_groups` freezes everything, wraps the model with PEFT when a LoRA group is asked for (target modules
matched as a full regex on module paths inside that tower only), then unfreezes the whole-module groups.
The LM head when tied to the input embeddings (SmolLM2, GPT-2, ...) is ONE matrix: training `head` then
trains the input embeddings too (the table says so); the tie is kept, so a merged model stays tied.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from torch import nn

from gitllm.train.config import LoraSpec

LORA_MARK = "lora_"


@dataclass(frozen=True)
class Group:
    """label: the name in plot legends (as the seed's figures); tower: the GitLLM child the group lives in;
    lora: LoRA adapters inside it (else whole modules); also: further GitLLM children it trains when present."""

    label: str
    doc: str
    tower: str
    lora: bool = False
    also: tuple[str, ...] = ()


GROUPS: dict[str, Group] = {
    "proj": Group("Proj", "visual projection (and the frames' temporal embeddings)", "visual_projection",
                  also=("img_temporal_embedding",)),
    "lora": Group("LoRA", "LoRA adapters inside the LLM", "language_model", lora=True),
    "llm": Group("LLM", "the whole language model", "language_model"),
    "vit": Group("ViT", "the whole vision tower", "vision_model"),
    "head": Group("Head", "the LM head (output embeddings)", "language_model"),
    "vit_lora": Group("ViT-LoRA", "LoRA adapters inside the vision tower", "vision_model", lora=True),
}
# Pairs that train the same weights twice: refused rather than guessed.
_OVERLAPS = (("llm", "lora"), ("vit", "vit_lora"), ("llm", "head"))


def check_groups(groups: Iterable[str]) -> None:
    """ValueError for an empty list, an unknown group, a duplicate or an overlapping pair."""
    groups = list(groups)
    if not groups:
        raise ValueError("config key 'groups' is empty: nothing would train")
    for name in groups:
        if name not in GROUPS:
            raise ValueError(f"config key 'groups': unknown group {name!r}; known: {list(GROUPS)}")
    if len(set(groups)) != len(groups):
        raise ValueError(f"config key 'groups' repeats a group: {groups}")
    for a, b in _OVERLAPS:
        if a in groups and b in groups:
            raise ValueError(f"config key 'groups': {a!r} already trains what {b!r} would; pick one")


def lora_pattern(tower: str, targets: list[str]) -> str:
    """Full-match regex for module paths named `targets` inside `tower` (PEFT matches it on full paths)."""
    return rf"{tower}\..*\.(?:{'|'.join(targets)})"


def unwrap(model: nn.Module) -> nn.Module:
    """The GitLLMForCausalLM inside a PeftModel (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def apply_groups(model: nn.Module, groups: list[str], lora: LoraSpec, vit_lora: LoraSpec) -> nn.Module:
    """Freeze all but `groups`; returns the model, PEFT-wrapped when a LoRA group is asked for."""
    check_groups(groups)
    model.requires_grad_(False)
    lora_groups = [g for g in groups if GROUPS[g].lora]
    if lora_groups:
        model = _inject_lora(model, lora_groups, {"lora": lora, "vit_lora": vit_lora})
    base = unwrap(model)
    for name in groups:
        if not GROUPS[name].lora:
            group_module(base, name).requires_grad_(True)
            for child in GROUPS[name].also:
                if getattr(base, child, None) is not None:
                    getattr(base, child).requires_grad_(True)
    # Contract: every trainable parameter belongs to a requested group (LoRA never leaks to the other tower).
    owners = set(trainable_by_group(model, groups))
    assert owners <= set(groups), f"parameters outside the requested groups train: {owners - set(groups)}"
    return model


def _inject_lora(model: nn.Module, names: list[str], specs: dict[str, LoraSpec]) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    first = specs[names[0]]
    patterns = [lora_pattern(GROUPS[n].tower, specs[n].target_modules) for n in names]
    modules = [n for n, _ in model.named_modules()]
    for name, pattern in zip(names, patterns):
        if not any(re.fullmatch(pattern, m) for m in modules):
            raise ValueError(f"config key '{name}.target_modules': {specs[name].target_modules} match no module "
                             f"inside {GROUPS[name].tower}")
    # A second tower with its own rank/alpha: PEFT patterns keyed by that tower's path prefix.
    extra = {rf"{GROUPS[n].tower}\..*": specs[n] for n in names[1:]}
    config = LoraConfig(
        r=first.r,
        lora_alpha=first.alpha,
        lora_dropout=first.dropout,
        target_modules="|".join(f"(?:{p})" for p in patterns),
        rank_pattern={k: s.r for k, s in extra.items()},
        alpha_pattern={k: s.alpha for k, s in extra.items()},
    )
    with warnings.catch_warnings():
        # peft reads transformers' deprecated `is_gradient_checkpointing` alias while wrapping the model: a
        # FutureWarning about peft's code that no gitllm user can act on.
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        return get_peft_model(model, config)


def group_module(model: nn.Module, name: str) -> nn.Module:
    """The module a whole-module group trains (`head`: the LLM's output embeddings)."""
    if name == "head":
        head = model.language_model.get_output_embeddings()
        if head is None:
            raise ValueError("group 'head': this LLM has no output embeddings")
        return head
    return getattr(model, GROUPS[name].tower)


def tied_head(model: nn.Module) -> bool:
    """Whether the LM head shares its weight with the input embeddings."""
    lm = unwrap(model).language_model
    head = lm.get_output_embeddings()
    return head is not None and head.weight is lm.get_input_embeddings().weight


def owner(model: nn.Module, name: str, groups: list[str]) -> str:
    """The group a parameter of the (unwrapped) GitLLM named `name` belongs to, given the trained `groups`:
    a LoRA parameter to its tower's LoRA group, the (maybe tied) head matrix to `head` unless `llm` trains."""
    tower = name.split(".", 1)[0]
    also = next((g for g, spec in GROUPS.items() if tower in spec.also), None)
    if also is not None:
        return also
    if LORA_MARK in name:
        return next(g for g, spec in GROUPS.items() if spec.lora and spec.tower == tower)
    whole = next(g for g, spec in GROUPS.items() if not spec.lora and spec.tower == tower and g != "head")
    head = model.language_model.get_output_embeddings()
    if whole not in groups and head is not None and name in _param_names(model, head):
        return "head"
    return whole


def _param_names(model: nn.Module, module: nn.Module) -> set[str]:
    """Names under `model` of `module`'s parameters, including tied aliases."""
    ids = {id(p) for p in module.parameters()}
    return {n for n, p in model.named_parameters(remove_duplicate=False) if id(p) in ids}


def trainable_by_group(model: nn.Module, groups: list[str]) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """Trainable (name, parameter) pairs per group, names as in the unwrapped GitLLM."""
    base = unwrap(model)
    out: dict[str, list[tuple[str, nn.Parameter]]] = {}
    for name, param in base.named_parameters():
        if param.requires_grad:
            out.setdefault(owner(base, name, groups), []).append((name, param))
    return out


def parameter_table(model: nn.Module, groups: list[str]) -> str:
    """A text table: trainable parameters per group, the frozen rest, and the tie note for `head`."""
    base = unwrap(model)
    by_group = trainable_by_group(model, groups)
    total = sum(p.numel() for p in base.parameters())
    rows = [(g, sum(p.numel() for _, p in by_group.get(g, []))) for g in groups]
    lines = [f"{'group':<10}{'parameters':>14}  {'share':>7}  what"]
    for g, n in rows:
        note = GROUPS[g].doc + (" - tied to the input embeddings: both train" if g == "head" and tied_head(base) else "")
        lines.append(f"{g:<10}{n:>14,}  {100 * n / total:>6.2f}%  {note}")
    trained = sum(n for _, n in rows)
    lines.append(f"{'frozen':<10}{total - trained:>14,}  {100 * (total - trained) / total:>6.2f}%")
    return "\n".join(lines)


def module_report(model: nn.Module) -> tuple[list[str], list[str]]:
    """(trainable, frozen) module paths: the shallowest paths whose parameters all share one state
    (repeated layers folded as `*`), for the log."""
    states: dict[str, set[bool]] = {}
    for name, param in unwrap(model).named_parameters():
        parts = re.sub(r"\.\d+(?=\.)", ".*", name).split(".")
        for depth in range(1, len(parts) + 1):
            states.setdefault(".".join(parts[:depth]), set()).add(param.requires_grad)
    trained, frozen = [], []
    for path, state in states.items():
        parent = path.rpartition(".")[0]
        if len(state) == 1 and (not parent or len(states[parent]) > 1):
            (trained if True in state else frozen).append(path)
    return sorted(trained), sorted(frozen)
