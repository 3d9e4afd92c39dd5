"""The demo's short `qa` template: prefix-stable, answer + EOS labelled (the real SmolLM2 tokenizer when the zoo has it)."""

from __future__ import annotations

import pytest

from gitllm.data import Encoder, Sample, Turn
from gitllm.data.templates import qa
from tiny_models import tiny_processor


class _Eos:
    eos_token = "</s>"


def test_qa_renders_prefix_stable_turns() -> None:
    turns = [Turn("user", "q1"), Turn("assistant", "a1"), Turn("user", "q2")]
    assert qa("", turns[:1], _Eos, True) == "Question: q1 Answer:"
    assert qa("", turns[:2], _Eos, False) == "Question: q1 Answer: a1</s>"
    assert qa("", turns, _Eos, True) == "Question: q1 Answer: a1</s> Question: q2 Answer:"
    assert qa("Be brief.", turns[:1], _Eos, True) == "Be brief. Question: q1 Answer:"


def test_qa_labels_only_the_answer_and_eos() -> None:
    processor = tiny_processor()
    tokenizer = processor.tokenizer
    encoder = Encoder(tokenizer, processor.image_processor, "qa")
    encoded = encoder.text(Sample("t", "0", ["x.png"], inputs="w5 w6", outputs="w7"))
    labelled = [tokenizer.convert_ids_to_tokens(int(i)) for i in encoded["labels"] if i >= 0]
    assert labelled == ["w7", "</s>"]


def test_qa_with_smollm2_tokenizer() -> None:
    from gitllm.zoo import ENTRIES
    from gitllm.zoo.cache import cache_root, is_complete

    folder = cache_root(None) / "smollm2-135m-instruct"
    if not is_complete(folder, ENTRIES["smollm2-135m-instruct"]):
        pytest.skip("zoo entry smollm2-135m-instruct not prepared")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    encoder = Encoder(tokenizer, tiny_processor().image_processor, "qa")
    encoded = encoder.text(Sample("t", "0", ["x.png"], inputs="what is the red shape?", outputs="triangle"))
    assert len(encoded["input_ids"]) == 12
    assert tokenizer.decode([int(i) for i in encoded["labels"] if i >= 0]) == " triangle<|im_end|>"
