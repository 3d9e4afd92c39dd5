"""Import turingmotors/heron's GIT-LLM checkpoints (`git_llama`, `git_opt`, `git_mpt`, `git_gpt_neox`).

Heron's computation, read from its `heron/models/git_llm/*/modeling_git_*.py` (transformers 4.38), and the
gitllm settings that reproduce it:
- vision: `CLIPVisionModel(pixels).last_hidden_state`, CLS kept, no `post_layernorm` (CLIP applies it to the
  pooled output only): `keep_cls=True`, `vision_feature_layer=-1`, as gitllm's defaults;
- projection: transformers' `GitProjection`, Linear + LayerNorm with the vision `layer_norm_eps`:
  `projection="git"`, `projection_layer_norm_eps`;
- image tokens before the text; image tokens attend to every image token and no text, text attends to every
  image token and causally to text, text padding is never attended: the GIT mask;
- positions: Llama and GPT-NeoX number image and text tokens together from 0 (gitllm's default), MPT uses
  ALiBi; OPT adds no position embedding to image tokens and numbers the text from 0 with heron's own table
  `model.embed_positions` (`image_positions=False`; OPT's `model.decoder.embed_positions` heron never reads);
- `num_image_with_embedding` > 1: one temporal embedding per frame, `img_temporal_embedding.{i}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer, CLIPImageProcessorPil, CLIPVisionConfig
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from gitllm.convert.weights import read_state_dict
from gitllm.model import GitLLMConfig, GitLLMForCausalLM, GitLLMProcessor


@dataclass(frozen=True)
class HeronFamily:
    """text_type: the LLM's HF model_type; base: heron's LLM body prefix, which also holds the vision modules;
    renames: heron key prefix -> gitllm key prefix for the LLM, first match wins; embeddings: gitllm key of
    the input embeddings (a tied LM head is checked against it); dropped: keys heron saves but never reads."""

    text_type: str
    base: str
    renames: tuple[tuple[str, str], ...]
    embeddings: str
    dropped: tuple[str, ...] = ()
    image_positions: bool = True


HERON_FAMILIES: dict[str, HeronFamily] = {
    "git_llama": HeronFamily(
        "llama", "model.", (("model.", "language_model.model."), ("lm_head.", "language_model.lm_head.")),
        "language_model.model.embed_tokens.weight",
    ),
    "git_opt": HeronFamily(
        "opt", "model.",
        (("model.embed_positions.", "language_model.model.decoder.embed_positions."),
         ("model.decoder.", "language_model.model.decoder."), ("lm_head.", "language_model.lm_head.")),
        "language_model.model.decoder.embed_tokens.weight",
        dropped=("model.decoder.embed_positions.weight",),
        image_positions=False,
    ),
    "git_mpt": HeronFamily(
        "mpt", "transformer.",
        (("transformer.", "language_model.transformer."), ("lm_head.", "language_model.lm_head.")),
        "language_model.transformer.wte.weight",
    ),
    "git_gpt_neox": HeronFamily(
        "gpt_neox", "gpt_neox.",
        (("gpt_neox.", "language_model.gpt_neox."), ("embed_out.", "language_model.lm_head.")),
        "language_model.gpt_neox.embed_in.weight",
    ),
}

# Non-learned buffers that older transformers saved (rotary frequencies, causal-mask and position-id tables);
# the model recomputes them.
BUFFER_SUFFIXES = (".rotary_emb.inv_freq", ".attention.bias", ".attention.masked_bias", "embeddings.position_ids")
# Heron's own fields in config.json, besides the LLM's.
HERON_FIELDS = {"vision_config", "vision_model_name", "num_image_with_embedding", "model_type", "architectures",
                "transformers_version", "auto_map"}
TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json", "tokenizer.model")


def read_heron_config(src: str | Path) -> tuple[dict[str, Any], HeronFamily]:
    """Heron's config.json as a dict, and its family; a folder that is not a heron GIT-LLM is a ValueError."""
    path = Path(src) / "config.json"
    if not path.is_file():
        raise ValueError(f"{src} has no config.json: pass a heron checkpoint folder")
    raw = json.loads(path.read_text())
    if raw.get("model_type") not in HERON_FAMILIES:
        raise ValueError(f"{path}: model_type {raw.get('model_type')!r} is not a heron GIT-LLM; known: "
                         f"{sorted(HERON_FAMILIES)}")
    return raw, HERON_FAMILIES[raw["model_type"]]


def _clip_vision(config: Any, source: str) -> CLIPVisionConfig:
    config = getattr(config, "vision_config", None) or config
    if config.model_type != "clip_vision_model":
        raise ValueError(f"{source}: heron's vision tower is CLIP, got a {config.model_type!r} config")
    return config


def heron_vision_config(raw: dict[str, Any], vision_config: str | None = None) -> CLIPVisionConfig:
    """The CLIP vision config: from `vision_config` (a folder) if given, else from heron's `vision_model_name`
    (a local folder, or a hub id when reachable), else the copy heron wrote into config.json."""
    if vision_config is not None:
        try:
            return _clip_vision(AutoConfig.from_pretrained(vision_config), vision_config)
        except OSError as err:
            raise ValueError(f"--vision-config {vision_config}: no readable config ({err})") from err
    name = raw.get("vision_model_name")
    reason = "config.json names no vision_model_name"
    if name:
        try:
            return _clip_vision(AutoConfig.from_pretrained(name), name)
        except (OSError, ValueError) as err:
            reason = f"{name!r} is not readable: {err}"
    if isinstance(raw.get("vision_config"), dict):
        return _clip_vision(CLIPVisionConfig.from_dict(raw["vision_config"]), "config.json vision_config")
    raise ValueError(f"no vision config ({reason}); pass --vision-config DIR, a folder with the config.json of "
                     "heron's CLIP model")


def heron_text_config(raw: dict[str, Any], family: HeronFamily) -> Any:
    """The LLM's own config: heron's config.json without heron's fields and saved private attributes."""
    fields = getattr(CONFIG_MAPPING[family.text_type], "__dataclass_fields__", {})
    kwargs = {k: v for k, v in raw.items() if k not in HERON_FIELDS and (not k.startswith("_") or k in fields)}
    config = AutoConfig.for_model(family.text_type, **kwargs)
    if family.text_type == "opt" and config.word_embed_proj_dim != config.hidden_size:
        raise ValueError(
            f"heron OPT with word_embed_proj_dim {config.word_embed_proj_dim} != hidden_size {config.hidden_size} "
            "(e.g. opt-350m) projects images past OPT's project_in, which gitllm cannot express"
        )
    return config


def heron_gitllm_config(raw: dict[str, Any], family: HeronFamily, vision_config: str | None = None) -> GitLLMConfig:
    """The `GitLLMConfig` that computes what the heron checkpoint of config.json `raw` computes."""
    vision = heron_vision_config(raw, vision_config)
    frames = raw.get("num_image_with_embedding")
    extra: dict[str, Any] = {}
    if frames not in (None, 1):
        extra["num_image_with_embedding"] = frames
    return GitLLMConfig(
        vision_config=vision,
        text_config=heron_text_config(raw, family),
        projection="git",
        keep_cls=True,
        vision_feature_layer=-1,
        projection_layer_norm_eps=vision.layer_norm_eps,
        image_positions=family.image_positions,
        **extra,
    )


def heron_to_gitllm_keys(
    state_dict: dict[str, torch.Tensor], family: HeronFamily, tied: bool
) -> dict[str, torch.Tensor]:
    """Rename heron's keys to gitllm's; keys no rule knows are a ValueError listing them. With `tied` LM head
    and embeddings, a saved LM head must equal the embeddings and is left to the tie."""
    renames = (
        (f"{family.base}image_encoder.vision_model.", "vision_model."),
        (f"{family.base}visual_projection.visual_projection.", "visual_projection."),
        (f"{family.base}img_temporal_embedding.", "img_temporal_embedding."),
        *family.renames,
    )
    lora = sorted(key for key in state_dict if "lora_" in key)
    if lora:
        raise ValueError(f"the checkpoint holds {len(lora)} unmerged LoRA weights ({lora[:3]} ...): merge them "
                         "first (heron's unload_and_merge_lora, or peft's merge_and_unload) and save again")
    mapped: dict[str, torch.Tensor] = {}
    unknown = []
    for key, tensor in state_dict.items():
        if key in family.dropped or key.endswith(BUFFER_SUFFIXES):
            continue
        prefix = next((pair for pair in renames if key.startswith(pair[0])), None)
        if prefix is None:
            unknown.append(key)
        else:
            mapped[prefix[1] + key[len(prefix[0]):]] = tensor
    if unknown:
        raise ValueError(f"{len(unknown)} unknown heron keys: {sorted(unknown)}")
    head = "language_model.lm_head.weight"
    if tied and head in mapped:
        if family.embeddings in mapped and not torch.equal(mapped[head], mapped[family.embeddings]):
            raise ValueError(f"the config ties the LM head to the embeddings, but the checkpoint's {head} differs")
        del mapped[head]
    return mapped


def _single_dtype(state_dict: dict[str, torch.Tensor]) -> torch.dtype:
    dtypes = {t.dtype for t in state_dict.values() if t.is_floating_point()}
    return dtypes.pop() if len(dtypes) == 1 else torch.float32


def from_heron(
    src: str | Path, vision_config: str | None = None, attn_implementation: str | None = None
) -> GitLLMForCausalLM:
    """A heron GIT-LLM checkpoint folder as a `GitLLMForCausalLM` computing the same outputs, in the
    checkpoint's dtype. Missing, unexpected or mis-shaped weights are a ValueError listing them."""
    raw, family = read_heron_config(src)
    config = heron_gitllm_config(raw, family, vision_config)
    mapped = heron_to_gitllm_keys(read_state_dict(src), family, config.text_config.tie_word_embeddings)
    model, info = GitLLMForCausalLM.from_pretrained(
        None, config=config, state_dict=mapped, dtype=_single_dtype(mapped),
        attn_implementation=attn_implementation, output_loading_info=True,
    )
    problems = {kind: sorted(map(str, found)) for kind, found in info.items() if found}
    if problems:
        raise ValueError(f"the heron checkpoint {src} does not fill the gitllm model: {problems}")
    if not config.image_positions:
        # Heron never reads the table row that unpositioned image tokens now index: zero it again after loading.
        model.lm_adapter.reserve_unpositioned_row(model.language_model)
    return model.eval()


def heron_processor(src: str | Path, vision_config: str | None = None) -> GitLLMProcessor | None:
    """The processor: the tokenizer saved in `src` (None when there is none) and the image processor of `src`,
    of the vision folder or `vision_model_name`, else OpenAI CLIP's preprocessing at the encoder's size."""
    src = Path(src)
    if not any((src / name).is_file() for name in TOKENIZER_FILES):
        return None
    raw, _ = read_heron_config(src)
    image_processor = None
    for source in (str(src), vision_config, raw.get("vision_model_name")):
        local = source is not None and Path(source).is_dir()
        if source is None or (local and not (Path(source) / "preprocessor_config.json").is_file()):
            continue
        try:
            image_processor = AutoImageProcessor.from_pretrained(source)
            break
        except (OSError, ValueError):
            continue
    if image_processor is None:
        size = heron_vision_config(raw, vision_config).image_size
        image_processor = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    return GitLLMProcessor(image_processor, AutoTokenizer.from_pretrained(src))
