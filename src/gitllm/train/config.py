"""The training config: typed dataclasses, read from YAML + dotted `key=value` overrides, checked up front.

Every check here is cheap (no model, no data loading), so a bad config fails before any heavy work with a
ValueError naming the key: unknown key, wrong type, a number that is not finite or out of its range, unknown
group/template/format/projection, missing path, unreadable YAML.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from gitllm.train.recipes import recipe_path

CONFIG_FILE_NAME = "train_config.yaml"


@dataclass
class ModelSpec:
    """The two halves (hub ids, folders or zoo names) and how they join; or `init_from` a GIT-LLM folder."""

    vision: str = "dinov2-small"
    llm: str = "smollm2-135m-instruct"
    projection: str = "git"
    keep_cls: bool = True
    vision_feature_layer: int = -1
    init_from: str | None = None
    attn_implementation: str | None = None
    image_size: int | None = None  # resize images to this square size (None: the image processor's own)
    prefix: str = ""  # text placed before the image, e.g. "<|im_start|>" (GitLLMConfig.prefix_token_ids)
    word_scale: bool = False  # projection LayerNorm gain = the LLM's word-embedding std (match_word_scale)
    num_image_with_embedding: int | None = None  # frames with a temporal embedding (None: none; frames still work)


@dataclass
class DataSpec:
    """Sources are anything `gitllm.data.read` takes; `val` empty -> `val_size` train samples held out: the
    last ones (`val_by: row`) or every question of whole images (`val_by: image`, the same images for every
    seed, so no validation image is trained on). `streaming` reads the (one) train source lazily, for corpora
    too large to list (needs max_steps). `balance_answers` redraws the training rows so that each question
    text's answers are equally frequent: the question alone then predicts nothing, which pushes a model to read
    the image (the idea of VQA v2's balanced pairs)."""

    train: list[str] = field(default_factory=lambda: ["easyvqa:train"])
    val: list[str] = field(default_factory=list)
    format: str | None = None
    tasks: str | None = None  # M3IT task names or preset (e.g. experiment3)
    split: str | None = None  # M3IT split of the train sources
    val_split: str | None = None  # M3IT split of the val sources
    streaming: bool = False
    shuffle: bool = False  # read every train row, shuffle (config seed), then take max_train_samples + val_size
    val_size: int = 200
    val_by: Literal["row", "image"] = "row"
    balance_answers: bool = False
    max_train_samples: int | None = None
    max_val_samples: int | None = None
    template: str = "git-llm"
    instruction: str = ""
    label_mode: Literal["answer", "all"] = "answer"
    max_length: int = 512
    max_frames: int | None = None  # frames per sample, sampled evenly (None: model.num_image_with_embedding, else all)
    skip_bad: bool = False


@dataclass
class LoraSpec:
    """LoRA inside one tower; `target_modules` are module-name suffixes, confined to the tower by path."""

    r: int = 8
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])


@dataclass
class OptimSpec:
    """AdamW; `group_lr` overrides `lr` per trainable group (e.g. {proj: 1e-3, lora: 5e-4})."""

    lr: float = 1e-4
    group_lr: dict[str, float] = field(default_factory=dict)
    temporal_lr: float | None = None  # the frames' temporal embeddings (in group proj); None: proj's learning rate
    weight_decay: float = 0.0
    scheduler: Literal["constant", "constant_with_warmup", "linear", "cosine"] = "linear"
    warmup_ratio: float = 0.0
    max_grad_norm: float = 1.0


@dataclass
class VisualWordSpec:
    """The visual-word objective (`gitllm.train.objectives`): `weight` x a cross-entropy that pulls each row's
    projected image tokens towards the word embedding of its answer's first token; 0 turns it off. Answers in
    `skip_answers` say nothing about the image's content and are not used."""

    weight: float = 0.0
    temperature: float = 0.1
    skip_answers: list[str] = field(default_factory=lambda: ["yes", "no"])


@dataclass
class TrainConfig:
    model: ModelSpec = field(default_factory=ModelSpec)
    data: DataSpec = field(default_factory=DataSpec)
    groups: list[str] = field(default_factory=lambda: ["proj", "lora"])
    lora: LoraSpec = field(default_factory=LoraSpec)
    vit_lora: LoraSpec = field(default_factory=LoraSpec)
    optim: OptimSpec = field(default_factory=OptimSpec)
    visual_words: VisualWordSpec = field(default_factory=VisualWordSpec)
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    batch_size: int = 8  # per device
    grad_accum: int = 1
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    eval_steps: int = 0  # > 0: also before training and every eval_steps; 0: at the end only
    eval_accuracy: int = 0  # > 0: at each evaluation also answer this many val questions, log their exact match
    eval_blind: bool = True  # with eval_accuracy: also the image-blind accuracy (images shuffled, features zeroed)
    save_steps: int = 0  # 0: save at the end only
    save_total_limit: int | None = 2
    logging_steps: int = 10
    eval_batch_size: int | None = None
    seed: int = 0
    output_dir: str = "runs/gitllm"
    gradient_checkpointing: bool = False
    feature_cache: Literal["auto", "on", "off"] = "auto"  # auto: on when the vision tower is frozen (not streamed)
    cache_dir: str | None = None  # default ~/.cache/gitllm/features (GITLLM_FEATURE_CACHE)
    resume: Literal["auto", "never", "always"] = "auto"  # auto: from the last checkpoint when there is one
    report_to: list[str] = field(default_factory=lambda: ["tensorboard"])
    num_workers: int = 0
    merge: bool = False  # also write a merged plain model to OUTPUT_DIR/merged
    name: str | None = None  # legend label in plots (default: the groups, e.g. Proj+LoRA)

    @property
    def label(self) -> str:
        """The run's legend label: `name`, else its groups as the seed wrote them (Proj+LoRA)."""
        from gitllm.train.groups import GROUPS

        return self.name or "+".join(GROUPS[g].label if g in GROUPS else g for g in self.groups)


def _check(value: Any, hint: Any, key: str) -> Any:
    """`value` checked against type `hint` (ints widen to floats); nested dataclasses built from dicts."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ValueError(f"config key {key!r} must be a mapping, got {type(value).__name__}")
        return from_dict(hint, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _check(value, option, key)
            except ValueError:
                continue
        raise ValueError(f"config key {key!r}: {value!r} is not {_name(hint)}")
    if origin is Literal:
        if value not in args:
            raise ValueError(f"config key {key!r}: {value!r} is not one of {list(args)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"config key {key!r} must be a list, got {value!r}")
        return [_check(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"config key {key!r} must be a mapping, got {value!r}")
        return {_check(k, args[0], key): _check(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if hint is type(None):
        if value is not None:
            raise ValueError(f"config key {key!r} must be null")
        return None
    if hint is float and not isinstance(value, bool) and isinstance(value, (int, float, str)):
        try:  # YAML reads `1e-3` (no dot) as a string
            number = float(value)
        except ValueError:
            raise ValueError(f"config key {key!r}: {value!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"config key {key!r}: {value!r} is not a finite number")
        return number
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ValueError(f"config key {key!r}: {value!r} is not {_name(hint)}")
    return value


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass `cls` from a mapping; unknown keys and wrong types are ValueErrors naming the key."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown config key {prefix + unknown[0]!r}; known under {prefix or 'top level'}: "
                         f"{sorted(names)}")
    return cls(**{k: _check(v, hints[k], prefix + k) for k, v in data.items()})


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides (values parsed as YAML) to a nested mapping, in place."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not key=value")
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {part!r} is not a mapping")
        try:
            node[leaf] = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ValueError(f"override {item!r}: the value is not valid YAML ({_yaml_problem(err)})") from None
    return data


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping; a top-level `base: FILE` (relative to this file) is read first and overridden key by key."""
    if not path.is_file():
        raise ValueError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ValueError(f"config file {str(path)!r} is not valid YAML: {_yaml_problem(err)}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config file {str(path)!r} must hold a mapping")
    base = data.pop("base", None)
    return _deep_merge(read_yaml(path.parent / base), data) if base else data


def _yaml_problem(err: Exception) -> str:
    """One line: what is wrong and where (YAML marks count from 0)."""
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{getattr(err, 'problem', None) or err}{where}"


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(source: str | Path | dict[str, Any] | TrainConfig, overrides: list[str] = ()) -> TrainConfig:
    """A checked TrainConfig from a YAML file, a shipped recipe's name (`exp1-modules/offline/proj+lora`, see
    `gitllm.train.recipes`), a mapping or a TrainConfig, with `key=value` overrides."""
    if isinstance(source, TrainConfig):
        source = dataclasses.asdict(source)
    data = dict(source) if isinstance(source, dict) else read_yaml(recipe_path(source))
    config = from_dict(TrainConfig, apply_overrides(data, list(overrides)))
    validate(config)
    return config


def validate(config: TrainConfig) -> None:
    """Cross-field checks that need no model or data; each ValueError names the key."""
    from gitllm.data import READERS, TEMPLATES
    from gitllm.model.projection import PROJECTIONS
    from gitllm.train.groups import GROUPS, check_groups

    check_groups(config.groups)
    for group in config.optim.group_lr:
        if group not in config.groups:
            raise ValueError(f"config key 'optim.group_lr.{group}': not a trained group (groups: {config.groups})")
    if config.model.projection not in PROJECTIONS:
        raise ValueError(f"config key 'model.projection': unknown {config.model.projection!r}; known {sorted(PROJECTIONS)}")
    if config.data.template not in TEMPLATES:
        raise ValueError(f"config key 'data.template': unknown {config.data.template!r}; known {sorted(TEMPLATES)}")
    if config.data.format is not None and config.data.format not in READERS:
        raise ValueError(f"config key 'data.format': unknown {config.data.format!r}; known {sorted(READERS)}")
    if not config.data.train:
        raise ValueError("config key 'data.train' lists no source")
    for key in ("train", "val"):
        for source in getattr(config.data, key):
            if not _is_virtual(source) and not Path(source).exists():
                raise ValueError(f"config key 'data.{key}': path {source!r} does not exist")
    if config.model.init_from is not None and not Path(config.model.init_from).is_dir():
        raise ValueError(f"config key 'model.init_from': folder {config.model.init_from!r} does not exist")
    vision_trained = any(GROUPS[g].tower == "vision_model" for g in config.groups)
    if config.feature_cache == "on" and vision_trained:
        raise ValueError("config key 'feature_cache': 'on' needs a frozen vision tower, but groups train it "
                         f"({config.groups}); use 'auto' or 'off'")
    for key, ok, rule in _RANGES:
        value = _lookup(config, key)
        if value is not None and not ok(value):
            raise ValueError(f"config key {key!r} must be {rule}, got {value!r}")
    for group, lr in config.optim.group_lr.items():
        if lr <= 0:
            raise ValueError(f"config key 'optim.group_lr.{group}' must be > 0, got {lr!r}")
    if config.optim.temporal_lr is not None and ("proj" not in config.groups
                                                 or config.model.num_image_with_embedding is None):
        raise ValueError("config key 'optim.temporal_lr': no temporal embeddings train (they need group 'proj' "
                         "and model.num_image_with_embedding)")
    if not config.data.val and config.data.val_size < 1:
        raise ValueError("config key 'data.val_size' must be >= 1 when no data.val sources are given")
    if config.visual_words.weight > 0 and "proj" not in config.groups:
        raise ValueError("config key 'visual_words.weight': the visual-word loss trains the projection; "
                         f"add 'proj' to groups ({config.groups}) or set the weight to 0")
    for integration, module in (("tensorboard", "tensorboard"), ("wandb", "wandb")):
        if integration in config.report_to and importlib.util.find_spec(module) is None:
            raise ValueError(f"config key 'report_to': {integration!r} needs the {module} package "
                             f"(pip install {module}) or drop it")
    if config.data.streaming and (config.max_steps <= 0 or len(config.data.train) != 1):
        raise ValueError("config key 'data.streaming' needs max_steps > 0 and exactly one data.train source")
    if config.max_steps <= 0 and config.epochs <= 0:
        raise ValueError("config key 'epochs' must be > 0 (or set max_steps)")


def _at_least(low: float) -> Callable[[float], bool]:
    return lambda value: value >= low


# (key, check, rule) for single keys; None (where a key allows it) is not checked.
_RANGES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    *((key, _at_least(1), ">= 1") for key in (
        "batch_size", "grad_accum", "logging_steps", "lora.r", "vit_lora.r", "save_total_limit",
        "eval_batch_size", "data.max_length", "data.max_train_samples", "data.max_val_samples", "model.image_size")),
    *((key, _at_least(0), ">= 0") for key in (
        "eval_steps", "save_steps", "num_workers", "data.val_size", "optim.weight_decay", "optim.max_grad_norm")),
    ("eval_accuracy", _at_least(0), ">= 0 (0: no answer accuracy at evaluations)"),
    ("max_steps", lambda v: v >= 1 or v == -1, ">= 1, or -1 to train for `epochs`"),
    ("optim.lr", lambda v: v > 0, "> 0"),
    ("optim.temporal_lr", lambda v: v > 0, "> 0"),
    ("optim.warmup_ratio", lambda v: 0 <= v < 1, "in [0, 1) (a fraction of the training steps)"),
    ("lora.dropout", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("vit_lora.dropout", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("visual_words.weight", _at_least(0), ">= 0 (0 turns it off)"),
    ("visual_words.temperature", lambda v: v > 0, "> 0"),
)


def _lookup(config: TrainConfig, key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def _is_virtual(source: str) -> bool:
    """Sources that are not local paths: package datasets (easyvqa:..., shapesvideo:...) and hub streams (hf:...)."""
    return source.startswith(("easyvqa", "shapesvideo", "hf:"))


def dump_config(config: TrainConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(dataclasses.asdict(config), sort_keys=False), encoding="utf-8")
