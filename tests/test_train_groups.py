"""Trainable groups, checked parameter by parameter (`requires_grad`), and LoRA confined to its tower."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gitllm.train import GROUPS, LoraSpec, apply_groups, parameter_table
from gitllm.train.groups import unwrap
from tiny_models import tiny_model

# The rule each group follows, on GitLLM parameter names (tied aliases included).
RULES: dict[str, Callable[[str, bool], bool]] = {
    "proj": lambda n, tied: n.startswith(("visual_projection.", "img_temporal_embedding.")),
    "lora": lambda n, tied: n.startswith("language_model.") and "lora_" in n,
    "vit_lora": lambda n, tied: n.startswith("vision_model.") and "lora_" in n,
    "llm": lambda n, tied: n.startswith("language_model.") and "lora_" not in n,
    "vit": lambda n, tied: n.startswith("vision_model.") and "lora_" not in n,
    "head": lambda n, tied: n in ("language_model.lm_head.weight",)
    + (("language_model.transformer.wte.weight", "language_model.model.embed_tokens.weight") if tied else ()),
}
COMBOS = [[g] for g in GROUPS] + [
    ["proj", "lora"], ["proj", "llm"], ["proj", "vit"], ["proj", "head"], ["proj", "lora", "vit"],
    ["proj", "lora", "head"], ["proj", "lora", "vit_lora"], ["vit", "lora"], ["llm", "vit_lora"],
]


@pytest.mark.parametrize("llm", ["llama", "gpt2"])
@pytest.mark.parametrize("groups", COMBOS, ids="+".join)
def test_requires_grad_param_by_param(groups: list[str], llm: str) -> None:
    model = apply_groups(tiny_model(llm, num_image_with_embedding=2), groups,
                         LoraSpec(target_modules=["q_proj", "v_proj", "c_attn"]),
                         LoraSpec(r=4, target_modules=["q_proj", "v_proj"]))
    base = unwrap(model)
    tied = llm == "gpt2"
    assert (base.language_model.get_output_embeddings().weight is base.get_input_embeddings().weight) == tied
    for name, param in base.named_parameters(remove_duplicate=False):
        expected = any(RULES[g](name, tied) for g in groups)
        assert param.requires_grad == expected, (name, groups)
    assert all(g in parameter_table(model, groups) for g in groups)


def test_lora_never_leaks_into_the_other_tower() -> None:
    """Both towers have `q_proj`/`v_proj` modules, so plain suffix targets would hit both; ours do not."""
    plain = tiny_model()
    names = [n for n, _ in plain.named_modules()]
    assert any(n.startswith("vision_model.") and n.endswith("q_proj") for n in names)
    assert any(n.startswith("language_model.") and n.endswith("q_proj") for n in names)
    spec = LoraSpec(target_modules=["q_proj", "v_proj"])
    for groups, tower, other in ((["lora"], "language_model", "vision_model"),
                                 (["vit_lora"], "vision_model", "language_model")):
        lora_modules = [n for n, _ in unwrap(apply_groups(tiny_model(), groups, spec, spec)).named_modules()
                        if n.endswith("lora_A")]
        assert lora_modules and all(n.startswith(tower + ".") for n in lora_modules), lora_modules
        assert not any(n.startswith(other + ".") for n in lora_modules)


def test_both_lora_groups_keep_their_ranks() -> None:
    model = apply_groups(tiny_model(), ["lora", "vit_lora"], LoraSpec(r=8), LoraSpec(r=2))
    ranks = {n.split(".")[0]: m.weight.shape[0] for n, m in unwrap(model).named_modules() if n.endswith("lora_A.default")}
    assert ranks == {"language_model": 8, "vision_model": 2}


def test_tied_head_is_reported() -> None:
    model = apply_groups(tiny_model("gpt2"), ["head"], LoraSpec(), LoraSpec())
    assert "tied to the input embeddings" in parameter_table(model, ["head"])


def test_targets_matching_nothing_are_an_error() -> None:
    with pytest.raises(ValueError, match="lora.target_modules"):
        apply_groups(tiny_model(), ["lora"], LoraSpec(target_modules=["nonexistent_proj"]), LoraSpec())
