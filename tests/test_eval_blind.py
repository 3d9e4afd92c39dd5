"""Image-reliance diagnostics: question types, the seeded derangement, and the image-blind score of a model that
ignores its images (blind = real) and of one that copies the image's colour (blind drops)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from gitllm.data import Sample
from gitllm.eval import evaluate, summary
from gitllm.eval.blind import derangement
from gitllm.eval.question_types import accuracy_by, answer_type, question_type
from gitllm.play import GenerationSettings, load_model
from test_play_helpers import image, one_torch_thread, save_tiny  # noqa: F401 (fixture)

SETTINGS = GenerationSettings(max_new_tokens=4)


def test_answer_types_follow_vqa_v2_and_split_negated_yes_no() -> None:
    easyvqa = {"what is the red shape?": "circle", "is there not a black shape in the image?": "yes",
               "is no blue shape present?": "no", "does the image contain a circle?": "no",
               "what is the color of the triangle?": "red"}
    kinds = [answer_type(q, a) for q, a in easyvqa.items()]
    assert kinds == ["other", "negated yes/no", "negated yes/no", "yes/no", "other"]
    assert answer_type("How many dogs?", "2") == answer_type("how many cats", "Three.") == "number"
    assert answer_type("Isn't it raining?", "Yes") == "negated yes/no"
    assert answer_type("Is it a nothing-burger?", "no") == "yes/no"  # 'nothing' is not a negation word here
    assert question_type("Is there a cat?") == "is there" and question_type("What color is it?", 3) == "what color is"


def test_accuracy_by_type_counts_add_up_to_the_total() -> None:
    types = ["a", "b", "a", "c", "a", "b"]
    table = accuracy_by(types, {"exact_match": [1, 0, 1, 1, 0, 0], "blind": [0, 0, 1, 0, 0, 1]})
    assert list(table) == ["a", "b", "c"]  # most frequent first
    assert sum(row["count"] for row in table.values()) == len(types)
    assert table["a"] == {"count": 3, "exact_match": pytest.approx(2 / 3), "blind": pytest.approx(1 / 3)}
    assert table["b"] == {"count": 2, "exact_match": 0.0, "blind": 0.5}


def test_derangement_moves_every_row_to_another_image_reproducibly() -> None:
    keys = [f"img{i // 3}" for i in range(30)] + ["solo"]  # ten images with three questions each, one with one
    source = derangement(keys, seed=1)
    assert sorted(source) == list(range(len(keys)))  # a permutation: every image used as often as before
    assert all(keys[j] != keys[i] for i, j in enumerate(source))
    assert derangement(keys, seed=1) == source and derangement(keys, seed=2) != source
    assert derangement(["x"] * 4) == [0, 1, 2, 3]  # one image: nothing to swap with


def blind_model(tmp_path):
    """The tiny model with its projection's Linear zeroed: every image becomes the same image tokens (its bias
    through the LayerNorm), so the answers cannot depend on the image."""
    model, processor = load_model(save_tiny(tmp_path / "model"))
    with torch.no_grad():
        model.visual_projection[0].weight.zero_()
    return model, processor


def test_a_model_that_ignores_the_image_scores_the_same_blind(tmp_path) -> None:
    model, processor = blind_model(tmp_path)
    questions = [f"w{3 + i % 7} w{10 + i % 5}" for i in range(12)]
    samples = [Sample("t", str(i), [image(i % 4)], "", q, "w40") for i, q in enumerate(questions)]
    said = evaluate(model, processor, samples, settings=SETTINGS, batch_size=5, loss=False, blind=False,
                    out_dir=tmp_path / "said", progress=False)
    assert "vqa_blind_exact_match" not in said and "vqa_by_answer_type" in said  # --no-blind: no blind pass
    rows = [json.loads(line) for line in (tmp_path / "said" / "answers.jsonl").read_text().splitlines()]
    # Half the references are what the model says, so the accuracy is neither 0 nor 1.
    samples = [Sample("t", s.row_id, s.images, "", s.inputs, r["answer"] if i % 2 else "w90")
               for i, (s, r) in enumerate(zip(samples, rows))]
    metrics = evaluate(model, processor, samples, settings=SETTINGS, batch_size=5, loss=False, out_dir=tmp_path / "e",
                       progress=False)
    assert metrics["vqa_exact_match"] == pytest.approx(0.5)
    assert metrics["vqa_blind_exact_match"] == metrics["vqa_zeroed_exact_match"] == metrics["vqa_exact_match"]
    assert metrics["vqa_blind_drop"] == 0.0
    for table in (metrics["vqa_by_answer_type"], metrics["vqa_by_question_type"]):
        assert sum(row["count"] for row in table.values()) == metrics["vqa_count"] == 12
        assert all(row["blind_exact_match"] == row["exact_match"] for row in table.values())
    rows = [json.loads(line) for line in (tmp_path / "e" / "answers.jsonl").read_text().splitlines()]
    assert all(r["blind_answer"] == r["zeroed_answer"] == r["answer"] for r in rows)
    assert json.loads((tmp_path / "e" / "metrics.json").read_text()) == metrics


def colour_image(rgb: tuple[int, int, int], seed: int) -> Image.Image:
    """A flat colour with a little noise (each seed a different image of that colour)."""
    noise = np.random.default_rng(seed).integers(0, 12, (40, 50, 3))
    return Image.fromarray(np.clip(np.array(rgb) + noise, 0, 255).astype(np.uint8))


COLOURS = {"w60": (220, 30, 30), "w70": (30, 30, 220)}  # red and blue, named by two toy words


def colour_reader(model, processor) -> None:
    """Make `model.generate` answer the colour word of the image: the word of the nearest reference colour in
    the vision-feature space (from pixels or from given features), so the answer copies the image's colour."""
    from gitllm.infer.generate import prompt_batch

    references = {}
    for word, rgb in COLOURS.items():
        batch = prompt_batch(processor, [Sample("ref", word, [Image.new("RGB", (40, 50), rgb)], "", "w3")], "git-llm")
        with torch.no_grad():
            references[processor.tokenizer.convert_tokens_to_ids(word)] = model.encode_images(batch["pixel_values"])[0]
    eos = processor.tokenizer.eos_token_id

    @torch.no_grad()
    def generate(input_ids, attention_mask=None, pixel_values=None, vision_features=None, **kwargs):
        features = model.encode_images(pixel_values) if vision_features is None else vision_features.float()
        words = [min(references, key=lambda w: float((f - references[w]).norm())) for f in features]
        return torch.tensor([[w, eos] for w in words])

    model.generate = generate


def colour_samples() -> list[Sample]:
    """Three red and three blue images, two colour questions each (the reference is the colour's word)."""
    samples = []
    for k in range(6):
        word = list(COLOURS)[k % 2]
        picture = colour_image(COLOURS[word], seed=k)
        samples += [Sample("t", f"{k}-{q}", [picture], "", f"w{3 + q} w9", word) for q in range(2)]
    return samples


def test_a_model_that_copies_the_image_colour_drops_blind(tmp_path, monkeypatch) -> None:
    model, processor = load_model(save_tiny(tmp_path / "model"))
    colour_reader(model, processor)
    samples = colour_samples()
    metrics = evaluate(model, processor, samples, settings=SETTINGS, batch_size=4, loss=False, progress=False,
                       out_dir=tmp_path / "e")
    assert metrics["vqa_exact_match"] == 1.0
    assert metrics["vqa_blind_exact_match"] < 1.0 and metrics["vqa_zeroed_exact_match"] == 0.5
    drop = metrics["vqa_blind_drop"]
    assert drop > 0 and drop == pytest.approx(1.0 - metrics["vqa_blind_exact_match"])
    assert list(metrics["vqa_by_question_type"]) == ["w3 w9", "w4 w9"]
    assert all(row["count"] == 6 for row in metrics["vqa_by_question_type"].values())
    rows = [json.loads(line) for line in (tmp_path / "e" / "answers.jsonl").read_text().splitlines()]
    assert Counter(r["blind_answer"] == r["reference"] for r in rows)[False] == round(12 * metrics["vqa_blind_drop"])
    again = evaluate(model, processor, samples, settings=SETTINGS, batch_size=4, loss=False, progress=False)
    assert again == metrics  # the derangement is seeded: the blind score is reproducible
    text = summary(metrics)
    assert "image-blind" in text and f"{100 * metrics['vqa_blind_drop']:+.1f} points" in text

    encoded: list[int] = []
    encode = model.encode_images
    monkeypatch.setattr(model, "encode_images", lambda pixels: encoded.append(len(pixels)) or encode(pixels))
    cached = evaluate(model, processor, samples, settings=SETTINGS, batch_size=4, loss=False, progress=False,
                      feature_cache=True, cache_dir=tmp_path / "cache")
    assert sum(encoded) == 6  # the six distinct images, once: the blind passes shuffle the cached features
    assert cached == metrics


def test_zeroed_answers_are_generated_once_per_prompt_and_equal_per_row_answers(tmp_path, monkeypatch) -> None:
    import gitllm.eval.blind as blind
    from gitllm.infer.generate import generate_answers

    model, processor = load_model(save_tiny(tmp_path / "model"))
    samples = [Sample("t", str(k), [image(k)], "", f"w{3 + k % 3} w9", "w1") for k in range(9)]  # 3 prompts
    features = [torch.randn(4, model.config.vision_config.hidden_size, generator=torch.Generator().manual_seed(k))
                for k in range(9)]
    per_row = generate_answers(model, processor, samples, settings=SETTINGS, batch_size=4,
                               vision_features=[torch.zeros_like(f) for f in features])
    rows: list[int] = []

    def counted(model, processor, samples, **generation):
        rows.append(len(samples))
        return generate_answers(model, processor, samples, **generation)

    monkeypatch.setattr(blind, "generate_answers", counted)
    answers = blind.blind_answers(model, processor, samples, features, settings=SETTINGS, batch_size=4)
    assert answers["zeroed"] == per_row and len(set(per_row)) > 1
    assert rows == [9, 3]  # the shuffled pass answers every row, the zeroed one each distinct prompt once
