"""`evaluate`: validation loss/perplexity, VQA exact match, caption BLEU-4/CIDEr, answers and a gallery."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any

from gitllm.data import RowPolicy, Sample, read
from gitllm.eval.gallery import GalleryItem, frame_strip, write_gallery
from gitllm.eval.loss import validation_loss
from gitllm.eval.metrics import caption_scores, exact_match, normalize_answer
from gitllm.model import GitLLMForCausalLM, GitLLMProcessor
from gitllm.play.generate import GenerationSettings, generate_answers
from gitllm.train.features import sample_features


def question_and_reference(sample: Sample) -> tuple[str, str]:
    """The last question (empty for a caption) and the answer that follows it."""
    sample.require_answer()
    return sample.conversation[-2].text, sample.conversation[-1].text


def load_samples(data: str, format: str | None = None, limit: int | None = None, max_frames: int | None = None,
                 **read_options: Any) -> tuple[list[Sample], RowPolicy]:
    """Up to `limit` samples with an answer to compare against, images (frames: `max_frames` at most, sampled
    evenly) decoded once; bad rows (unreadable images included) are skipped and counted in the returned policy."""
    policy = RowPolicy(skip_bad=True)
    answered = (s for s in read(data, format, policy, **read_options) if s.conversation[-1].role == "assistant")
    decoded = (policy.guard(lambda s: replace(s, images=s.load_images(max_frames=max_frames)), s) for s in answered)
    return list(islice((s for s in decoded if s is not None), limit)), policy


def evaluate(
    model: GitLLMForCausalLM,
    processor: GitLLMProcessor,
    samples: Sequence[Sample] | str,
    template: str | None = None,
    settings: GenerationSettings = GenerationSettings(max_new_tokens=32),
    batch_size: int = 8,
    out_dir: str | Path | None = None,
    progress: bool = True,
    limit: int | None = 200,
    loss: bool = True,
    gallery_limit: int | None = None,
    feature_cache: bool = False,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Metrics over `samples`, or the first `limit` of a data source (`load_samples`, with the processor's
    instruction for readers that take one); questions are VQA, samples without a question are captions.
    `template` None: the processor's (the prompt format the model was trained with).

    Returns {'samples', 'loss', 'perplexity', 'answer_tokens', 'vqa_count', 'vqa_exact_match',
    'caption_count', 'caption_bleu4', 'caption_cider'} (VQA/caption keys only when such samples exist).
    `loss=False` skips the validation-loss pass (answers only: half the time); `gallery_limit` caps the
    gallery at its first N samples. `feature_cache` answers and scores from cached vision features
    (`gitllm.train.features`, under `cache_dir`): each distinct image is encoded once, and never again by a
    later evaluation with the same encoder. With `out_dir`: metrics.json, answers.jsonl and gallery.html are
    written there."""
    if isinstance(samples, str):
        options = {"instruction": processor.instruction} if processor.instruction else {}
        samples, policy = load_samples(samples, limit=limit, max_frames=model.config.num_image_with_embedding,
                                       **options)
        policy.report()
    if not samples:
        raise ValueError("no samples with answers to evaluate")
    pairs = [question_and_reference(s) for s in samples]
    features = sample_features(model, processor, samples, cache_dir, batch_size) if feature_cache else None
    answers = generate_answers(model, processor, samples, template, settings, batch_size, progress, features)
    metrics: dict[str, Any] = {"samples": len(samples)}
    if loss:
        scored = validation_loss(model, processor, samples, template, batch_size, progress, features)
        metrics |= {"loss": scored["loss"], "perplexity": scored["perplexity"], "answer_tokens": scored["tokens"]}
    vqa = [i for i, (question, _) in enumerate(pairs) if question]
    captions = [i for i, (question, _) in enumerate(pairs) if not question]
    if vqa:
        metrics["vqa_count"] = len(vqa)
        metrics["vqa_exact_match"] = exact_match([answers[i] for i in vqa], [pairs[i][1] for i in vqa])
    if captions:
        scores = caption_scores([answers[i] for i in captions], [[pairs[i][1]] for i in captions])
        metrics |= {"caption_count": len(captions), "caption_bleu4": scores["bleu4"], "caption_cider": scores["cider"]}
    if out_dir is not None:
        _write(Path(out_dir), samples, pairs, answers, metrics, gallery_limit)
    return metrics


def _write(out: Path, samples: Sequence[Sample], pairs: list[tuple[str, str]], answers: list[str],
           metrics: dict[str, Any], gallery_limit: int | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    items = []
    with (out / "answers.jsonl").open("w", encoding="utf-8") as rows:
        for sample, (question, reference), answer in zip(samples, pairs, answers):
            correct = normalize_answer(answer) == normalize_answer(reference) if question else None
            rows.write(json.dumps({"source": sample.source, "row_id": sample.row_id, "question": question,
                                   "reference": reference, "answer": answer, "correct": correct}) + "\n")
            if gallery_limit is None or len(items) < gallery_limit:
                items.append(GalleryItem(frame_strip(sample.load_images()), question, reference, answer, correct))
    write_gallery(items, out / "gallery.html", title=f"gitllm eval: {len(samples)} samples")
