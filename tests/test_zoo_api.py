"""The public API: entries, `resolve` for the model code, and an import that loads no builder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import gitllm.zoo
from gitllm.zoo import ZooEntry, cache, list_entries, resolve
from gitllm.zoo.registry import get_entry

DINO = "dinov2-small"


def test_entries_name_their_loader_and_source() -> None:
    entries = list_entries()
    assert all(isinstance(entry, ZooEntry) for entry in entries)
    assert {entry.name: entry.auto_class for entry in entries} == {
        "smollm2-135m-instruct": "AutoModelForCausalLM",
        "dinov2-small": "AutoModel",
        "smollm2-135m-random": "AutoModelForCausalLM",
        "gemma-3-270m": "AutoModelForCausalLM",
    }


def test_resolve_prepares_zoo_names_and_passes_others_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))
    assert resolve("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert resolve(str(tmp_path / "some-folder")) == str(tmp_path / "some-folder")
    assert resolve(DINO) == str(tmp_path / DINO)
    assert cache.is_complete(tmp_path / DINO, get_entry(DINO))


def test_import_loads_no_heavy_module() -> None:
    """`import gitllm.zoo` alone (the parent package's own imports stubbed out) loads no torch and no builder."""
    package_dir = Path(gitllm.zoo.__file__).parents[1]
    code = (
        f"import sys, types; parent = types.ModuleType('gitllm'); parent.__path__ = [{str(package_dir)!r}]; "
        "sys.modules['gitllm'] = parent; import gitllm.zoo; "
        "heavy = {'torch', 'transformers', 'numpy', 'onnx', 'gguf', 'gitllm.zoo.smollm2', 'gitllm.zoo.dinov2', "
        "'gitllm.zoo.gemma3', 'gitllm.zoo.random_init', 'gitllm.zoo.gguf_lm'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_model_and_processor_accept_zoo_names() -> None:
    """The model code builds a GIT-LLM straight from zoo names (shared cache: $GITLLM_ZOO_DIR or the default)."""
    from PIL import Image
    from skimage import data as photos

    from gitllm import GitLLMForCausalLM, GitLLMProcessor

    model = GitLLMForCausalLM.from_pretrained_parts(DINO, "smollm2-135m-instruct")
    processor = GitLLMProcessor.from_parts(DINO, "smollm2-135m-instruct")
    inputs = processor(images=Image.fromarray(photos.chelsea()), text="A photo of")
    assert model.config.vision_config.hidden_size == 384 and model.config.text_config.hidden_size == 576
    assert tuple(inputs["pixel_values"].shape) == (1, 3, 224, 224)
    assert processor.tokenizer.chat_template
