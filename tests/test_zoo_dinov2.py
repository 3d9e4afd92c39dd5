"""dinov2-small: the rebuilt Dinov2Model matches the package's own ONNX graph, and its features mean something."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from skimage import data as photos
from transformers import AutoImageProcessor, AutoModel

from gitllm.zoo import prepare
from gitllm.zoo.registry import get_entry
from gitllm.zoo.sources import locate

BACKBONE_OUTPUT = "/backbone/layernorm/Add_1_output_0"  # the final layer norm of the exported backbone


@pytest.fixture(scope="module")
def folder() -> Path:
    return prepare("dinov2-small", progress=False)  # shared cache: $GITLLM_ZOO_DIR or ~/.cache/gitllm/zoo


@pytest.fixture(scope="module")
def encode(folder: Path):
    model = AutoModel.from_pretrained(folder).eval()
    processor = AutoImageProcessor.from_pretrained(folder)

    def run(image: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
        pixels = processor(images=image, return_tensors="pt").pixel_values
        with torch.no_grad():
            return pixels, model(pixel_values=pixels).last_hidden_state

    return run


def _photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(photos, name)())


def test_folder_loads_with_plain_transformers(folder: Path) -> None:
    model = AutoModel.from_pretrained(folder)
    processor = AutoImageProcessor.from_pretrained(folder)
    assert type(model).__name__ == "Dinov2Model"
    assert list(processor.image_mean) == [0.485, 0.456, 0.406] and list(processor.image_std) == [0.229, 0.224, 0.225]
    pixels = processor(images=_photo("rocket"), return_tensors="pt").pixel_values
    assert tuple(pixels.shape) == (1, 3, 224, 224)


@pytest.mark.parametrize("name", ["chelsea", "astronaut", "coffee"])
def test_rebuild_matches_onnx_backbone(encode, name: str) -> None:
    [source] = locate(get_entry("dinov2-small"))
    graph = onnx.load(str(source))
    graph.graph.output.append(onnx.helper.make_tensor_value_info(BACKBONE_OUTPUT, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    pixels, ours = encode(_photo(name))
    (reference,) = session.run([BACKBONE_OUTPUT], {"input_image": pixels.numpy()})
    diff = float(np.abs(ours.numpy() - reference).max())
    print(f"dinov2-small vs ONNX backbone on {name}: max abs diff {diff:.2e}, output {tuple(ours.shape)}")
    assert ours.shape == (1, 257, 384)
    assert diff <= 1e-4


def test_cls_features_separate_photos(encode) -> None:
    chelsea = _photo("chelsea")
    cls = {
        "chelsea": encode(chelsea)[1][0, 0],
        "flipped": encode(chelsea.transpose(Image.Transpose.FLIP_LEFT_RIGHT))[1][0, 0],
        "astronaut": encode(_photo("astronaut"))[1][0, 0],
    }
    flipped = torch.cosine_similarity(cls["chelsea"], cls["flipped"], dim=0).item()
    astronaut = torch.cosine_similarity(cls["chelsea"], cls["astronaut"], dim=0).item()
    print(f"CLS cosine: chelsea vs flipped {flipped:.3f}, chelsea vs astronaut {astronaut:.3f}")
    assert flipped > 0.9
    assert astronaut < 0.5
