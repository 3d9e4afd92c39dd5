"""gitllm.eval: metrics against hand-computed values, loss weighting, the gallery and `gitllm eval` end to end."""

from __future__ import annotations

import argparse
import json
import math

import pytest
import torch

from gitllm.data import Collator, Encoder, Sample
from gitllm.eval import caption_scores, evaluate, exact_match, load_samples, normalize_answer, summary
from gitllm.eval import cli as eval_cli
from gitllm.eval.gallery import GalleryItem, write_gallery
from gitllm.eval.loss import validation_loss
from gitllm.play import GenerationSettings, ask, load_model
from test_play_helpers import image, one_torch_thread, save_tiny  # noqa: F401 (fixture)

L = math.log(2)  # idf of an n-gram found in the references of one image out of two


def test_normalize_answer_and_exact_match() -> None:
    assert normalize_answer("The  Cat!") == "cat" and normalize_answer("an apple.") == "apple"
    assert normalize_answer("Yes, it's RED") == "yes it s red"
    assert exact_match(["The cat.", "dog", "two"], ["cat", "a Dog", "2"]) == pytest.approx(2 / 3)


def test_bleu4_by_hand() -> None:
    """Clipped n-gram precisions 5/6, 3/5, 2/4, 1/3 in both pairs -> corpus 10/12, 6/10, 4/8, 2/6;
    candidate length 12 vs closest reference length 13 -> brevity penalty exp(1 - 13/12)."""
    scores = caption_scores(["The cat sat on the mat.", "a dog runs in the park"],
                            [["the cat sat on a mat"], ["The dog runs in the big park!"]])
    expected = (10 / 12 * 6 / 10 * 4 / 8 * 2 / 6) ** 0.25 * math.exp(1 - 13 / 12)
    assert scores["bleu4"] == pytest.approx(expected, rel=1e-6)
    assert caption_scores(["a b c d"], [["a b c d"]])["bleu4"] == pytest.approx(1.0, rel=1e-6)


def test_cider_d_by_hand() -> None:
    """CIDEr-D (pycocoevalcap): per n, cosine of tf-idf vectors with hypothesis weights clipped to the
    reference's, idf = log(#images) - log(df), times a Gaussian penalty on the (bigram-count) length
    difference, sigma 6; mean over n = 1..4, times 10, mean over images.

    Image 1, 'a cat' vs 'a black cat': 'a' has idf 0 (in both images); unigrams: L^2 / (L * L*sqrt2);
    no shared bigram; no trigrams in the hypothesis; length 1 vs 2 bigrams -> exp(-1/72).
    Image 2, identical 'a white dog': n = 1, 2, 3 give 1, n = 4 has no n-grams -> 0."""
    scores = caption_scores(["a cat", "A white dog."], [["a black cat"], ["a white dog"]])
    image1 = 10 * (1 / math.sqrt(2) * math.exp(-1 / 72)) / 4
    image2 = 10 * 3 / 4
    assert scores["cider"] == pytest.approx((image1 + image2) / 2, rel=1e-6)
    assert caption_scores(["red fox", "blue sky"], [["red fox"], ["blue sky"]])["cider"] == pytest.approx(10 * 2 / 4)


def samples_of(rows: list[tuple[str, str]]) -> list[Sample]:
    return [Sample("t", str(i), [image(i)], "w5", q, a) for i, (q, a) in enumerate(rows)]


def test_validation_loss_is_token_weighted(tmp_path) -> None:
    model, processor = load_model(save_tiny(tmp_path))
    samples = samples_of([("w1 w2", "w3"), ("w4", "w5 w6 w7 w8"), ("", "w9 w10")])
    result = validation_loss(model, processor, samples, batch_size=2)
    encoder, collate = Encoder(processor.tokenizer, processor.image_processor), Collator.for_tokenizer(processor.tokenizer)
    total = tokens = 0
    for sample in samples:
        row = collate([encoder(sample)])
        count = int((row["labels"][:, 1:] != -100).sum())
        with torch.no_grad():
            total, tokens = total + float(model(**row).loss) * count, tokens + count
    assert result["tokens"] == tokens == 2 + 5 + 3  # answers + EOS
    assert result["loss"] == pytest.approx(total / tokens, rel=1e-5)
    assert result["perplexity"] == pytest.approx(math.exp(total / tokens), rel=1e-5)


def test_gallery_is_self_contained_and_escaped(tmp_path) -> None:
    items = [GalleryItem(image(0), "what <b>?", "cat", "cat", True), GalleryItem(image(1), "", "a dog", "dog", None)]
    page = write_gallery(items, tmp_path / "g" / "gallery.html").read_text()
    assert page.count('src="data:image/jpeg;base64,') == 2 and "what &lt;b&gt;?" in page
    assert 'class="card all-correct"' in page and 'class="card captions"' in page and "http" not in page


def test_gallery_has_a_header_one_card_per_image_and_a_wrong_answer_filter(tmp_path) -> None:
    """Three images with 3, 2 and 1 questions: three cards holding six answers; one image has a wrong one."""
    items = [GalleryItem(image(k), f"q{k}{j}", "w1", "w1" if (k, j) != (1, 0) else "w2", (k, j) != (1, 0), f"img{k}",
                         "w5") for k, n in enumerate((3, 2, 1)) for j in range(n)]
    metrics = {"vqa_count": 6, "vqa_exact_match": 5 / 6, "vqa_blind_exact_match": 0.5,
               "vqa_zeroed_exact_match": 0.5, "vqa_blind_drop": 5 / 6 - 0.5,
               "vqa_by_answer_type": {"other": {"count": 6, "exact_match": 5 / 6, "blind_exact_match": 0.5,
                                                "zeroed_exact_match": 0.5}}}
    page = write_gallery(items, tmp_path / "gallery.html", "t", metrics,
                         {"model": "runs/m<1>", "data": "easyvqa:test"}).read_text()
    assert page.count('class="card ') == 3 and page.count("data:image/jpeg;base64,") == 3
    assert page.count('class="card has-wrong"') == 1 and page.count('class="card all-correct"') == 2
    assert page.count('class="qa correct"') == 5 and page.count('class="qa incorrect"') == 1
    assert "runs/m&lt;1&gt;" in page and "easyvqa:test" in page
    assert "VQA exact match: 83.3% on 6 questions" in page and "+33.3 points" in page
    assert "<caption>by answer type</caption>" in page and "<td>83.3</td><td>50.0</td><td>50.0</td>" in page
    assert '<input type="checkbox" id="only-wrong">' in page and "only wrong answers (1 of 6 answers" in page
    assert 'getElementById("only-wrong")' in page and "body.only-wrong .card:not(.has-wrong)" in page
    assert "height: clamp(" in page and "width=device-width" in page  # thumbnails sized to the page
    assert page.count("blind: w5") == 6


def test_eval_cli_end_to_end(tmp_path, capsys) -> None:
    folder = save_tiny(tmp_path / "model")
    model, processor = load_model(folder)
    for i in range(4):
        image(i).save(tmp_path / f"{i}.png")
    said = ask(model, processor, [tmp_path / "0.png"], ["w1 w2"], instruction="", max_new_tokens=8)[0]
    rows = [{"image": "0.png", "question": "w1 w2", "answer": f"The {said}."},  # correct after normalisation
            {"image": "1.png", "question": "w3", "answer": "w90"},
            {"image": "2.png", "caption": "w4 w5 w6", "instruction": "w7"},
            {"image": "3.png", "caption": "w8 w9", "instruction": "w7"},
            {"image": "missing.png", "question": "w1", "answer": "w2"}]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    parser = argparse.ArgumentParser()
    eval_cli.register(parser.add_subparsers())
    args = parser.parse_args(["eval", "--model", str(folder), "--data", str(tmp_path / "data.jsonl"),
                              "--batch-size", "3", "--max-new-tokens", "8", "--out-dir", str(tmp_path / "out")])
    assert args.func(args) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    printed = capsys.readouterr().out
    assert "gitllm eval: 4 samples from" in printed and summary(metrics) in printed
    assert "VQA exact match: 50.0% on 2 questions" in printed and "image-blind:" in printed
    assert metrics["samples"] == 4 and metrics["vqa_count"] == 2 and metrics["caption_count"] == 2
    assert metrics["vqa_exact_match"] == 0.5 and metrics["perplexity"] == pytest.approx(math.exp(metrics["loss"]))
    assert {"caption_bleu4", "caption_cider"} <= set(metrics)
    answers = [json.loads(line) for line in (tmp_path / "out" / "answers.jsonl").read_text().splitlines()]
    assert [a["correct"] for a in answers] == [True, False, None, None] and answers[0]["answer"] == said
    assert [a["image"] for a in answers] == [str(tmp_path / f"{i}.png") for i in range(4)]
    assert {"blind_answer", "zeroed_answer", "answer_type", "question_type"} <= set(answers[0])
    assert (tmp_path / "out" / "gallery.html").read_text().count("data:image/jpeg;base64,") == 4
    samples, policy = load_samples(str(tmp_path / "data.jsonl"))
    assert len(samples) == 4 and policy.rejected["image_not_found"] == 1
    again = evaluate(model, processor, str(tmp_path / "data.jsonl"), settings=GenerationSettings(max_new_tokens=8),
                     batch_size=3, progress=False)
    assert again == metrics


def test_eval_from_the_feature_cache_answers_alike_and_encodes_each_image_once(tmp_path, monkeypatch) -> None:
    model, processor = load_model(save_tiny(tmp_path / "model"))
    for i in range(3):
        image(i).save(tmp_path / f"{i}.png")
    rows = [{"image": f"{i % 3}.png", "question": f"w{i} w{i + 1}", "answer": "w5"} for i in range(7)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    samples, _ = load_samples(str(tmp_path / "data.jsonl"))
    encoded: list[int] = []
    encode = model.encode_images
    monkeypatch.setattr(model, "encode_images", lambda pixels: encoded.append(len(pixels)) or encode(pixels))
    settings = GenerationSettings(max_new_tokens=6)
    plain = evaluate(model, processor, samples, settings=settings, batch_size=3, out_dir=tmp_path / "a", loss=False)
    assert sum(encoded) == 7 + 7 + 1  # pixels: each question's image, its swapped image (blind), one for zeroed
    encoded.clear()
    cached = [evaluate(model, processor, samples, settings=settings, batch_size=3, out_dir=tmp_path / f"c{k}",
                       loss=False, feature_cache=True, cache_dir=tmp_path / "cache") for k in range(2)]
    assert sum(encoded) == 3  # the three distinct images, once, by the first evaluation only (blind included)
    assert cached[0] == cached[1] == plain
    assert (tmp_path / "c1" / "answers.jsonl").read_text() == (tmp_path / "a" / "answers.jsonl").read_text()
    encoded.clear()
    scored = evaluate(model, processor, samples, settings=settings, batch_size=3, feature_cache=True,
                      cache_dir=tmp_path / "cache")
    assert sum(encoded) == 0  # the loss pass reads the cache too
    plain_scored = evaluate(model, processor, samples, settings=settings, batch_size=3)
    assert scored["loss"] == pytest.approx(plain_scored["loss"], abs=1e-5) and scored["answer_tokens"] > 0


def test_eval_cli_autocast_keeps_fp32_weights_and_computes_in_bf16(tmp_path, monkeypatch) -> None:
    import sys

    evaluate_module = sys.modules["gitllm.eval.evaluate"]  # the module; `gitllm.eval.evaluate` is the function
    folder = save_tiny(tmp_path / "model")
    image(0).save(tmp_path / "0.png")
    (tmp_path / "data.jsonl").write_text(json.dumps({"image": "0.png", "question": "w1", "answer": "w2"}) + "\n")
    seen = []

    def spy(model, *args, **kwargs) -> dict:
        seen.append((next(model.parameters()).dtype, torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return {}

    monkeypatch.setattr(evaluate_module, "evaluate", spy)
    parser = argparse.ArgumentParser()
    eval_cli.register(parser.add_subparsers())
    base = ["eval", "--model", str(folder), "--data", str(tmp_path / "data.jsonl"), "--out-dir", str(tmp_path / "o")]
    for extra in ([], ["--autocast", "bfloat16"], ["--autocast", "float32"]):  # the choices of `gitllm demo`
        args = parser.parse_args(base + extra)
        assert args.func(args) == 0
    assert seen[0][:2] == (torch.float32, False)
    assert seen[1] == (torch.float32, True, torch.bfloat16)
    assert seen[2][:2] == (torch.float32, False)
    with pytest.raises(SystemExit):
        parser.parse_args(base + ["--autocast", "int8"])


def test_evaluate_takes_every_sample_by_default_and_rejects_a_bad_limit(tmp_path) -> None:
    model, processor = load_model(save_tiny(tmp_path / "model"))
    image(0).save(tmp_path / "0.png")
    rows = [{"image": "0.png", "question": f"w{3 + i % 50}", "answer": "w2"} for i in range(201)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    quick = dict(settings=GenerationSettings(max_new_tokens=1), batch_size=67, loss=False, blind=False, progress=False)
    assert evaluate(model, processor, str(tmp_path / "data.jsonl"), **quick)["vqa_count"] == 201  # was 200
    assert evaluate(model, processor, str(tmp_path / "data.jsonl"), limit=7, **quick)["vqa_count"] == 7
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="positive number of samples"):
            evaluate(model, processor, str(tmp_path / "data.jsonl"), limit=bad, **quick)
        with pytest.raises(ValueError, match="positive number of samples"):
            load_samples(str(tmp_path / "data.jsonl"), limit=bad)


def test_eval_cli_limit_all_default_shown_and_bad_values_are_clean_errors(capsys) -> None:
    parser = argparse.ArgumentParser(prog="gitllm")
    eval_cli.register(parser.add_subparsers())
    base = ["eval", "--model", "m", "--data", "d"]
    assert parser.parse_args(base).limit is None and parser.parse_args(base + ["--limit", "all"]).limit is None
    assert parser.parse_args(base + ["--limit", "5"]).limit == 5
    for bad in ("0", "-3", "five"):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(base + ["--limit", bad])
        assert exit_info.value.code == 2
        error = capsys.readouterr().err
        assert "argument --limit" in error and "is not a positive number of samples or 'all'" in error
        assert "Traceback" not in error
    with pytest.raises(SystemExit):
        parser.parse_args(["eval", "--help"])
    assert "(default: all)" in " ".join(capsys.readouterr().out.split())
