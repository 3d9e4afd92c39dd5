"""gitllm.train: typed configs, trainable groups, the frozen-encoder feature cache, the Trainer engine,
merging and loss-curve plots.

    from gitllm.train import train
    result = train("exp1-modules/offline/proj+lora")  # a shipped recipe (gitllm recipes list) or a YAML file
"""

from gitllm.train.config import DataSpec, LoraSpec, ModelSpec, OptimSpec, TrainConfig, load_config
from gitllm.train.engine import TrainResult, close_distributed, train
from gitllm.infer.features import FeatureCache, ImageKeys, encoder_identity
from gitllm.train.groups import GROUPS, apply_groups, parameter_table
from gitllm.train.merge import merge_run

__all__ = [
    "GROUPS", "DataSpec", "FeatureCache", "ImageKeys", "LoraSpec", "ModelSpec", "OptimSpec", "TrainConfig",
    "TrainResult", "apply_groups", "close_distributed", "encoder_identity", "load_config", "merge_run",
    "parameter_table", "train",
]
