"""gitllm.train: typed configs, trainable groups, the frozen-encoder feature cache, the Trainer engine,
merging and loss-curve plots. Cheap to import: each name loads its submodule on first access.

    from gitllm.train import train
    result = train("exp1-modules/offline/proj+lora")  # a shipped recipe (gitllm recipes list) or a YAML file
"""

from gitllm.lazy import lazy_getattr

_LAZY = {
    **dict.fromkeys(("DataSpec", "LoraSpec", "ModelSpec", "OptimSpec", "TrainConfig", "load_config"),
                    "gitllm.train.config"),
    **dict.fromkeys(("TrainResult", "close_distributed", "train"), "gitllm.train.engine"),
    **dict.fromkeys(("FeatureCache", "ImageKeys", "encoder_identity"), "gitllm.infer.features"),
    **dict.fromkeys(("GROUPS", "apply_groups", "parameter_table"), "gitllm.train.groups"),
    "merge_run": "gitllm.train.merge",
}

__all__ = sorted(_LAZY)
__getattr__ = lazy_getattr(__name__, _LAZY)
