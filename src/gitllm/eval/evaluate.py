"""`evaluate`: validation loss/perplexity, VQA exact match (per question type, and image-blind), caption
BLEU-4/CIDEr, answers and a gallery."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any

from gitllm.data import RowPolicy, Sample, read
from gitllm.eval.blind import BLIND_SEED, blind_answers
from gitllm.eval.gallery import GalleryItem, frame_strip, write_gallery
from gitllm.eval.loss import validation_loss
from gitllm.eval.metrics import caption_scores, matches
from gitllm.eval.question_types import TYPE_WORDS, accuracy_by, answer_type, question_type
from gitllm.infer.features import ImageKeys, sample_features
from gitllm.infer.generate import GenerationSettings, generate_answers
from gitllm.model import GitLLMForCausalLM, GitLLMProcessor


def question_and_reference(sample: Sample) -> tuple[str, str]:
    """The last question (empty for a caption) and the answer that follows it."""
    sample.require_answer()
    return sample.conversation[-2].text, sample.conversation[-1].text


def check_limit(limit: int | None) -> None:
    """A ValueError unless `limit` is None (every sample) or a positive count."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive number of samples, or None for all of them (got {limit!r})")


def image_path(sample: Sample) -> str | None:
    """Where the sample's (first) image was read from (a file path), if anywhere."""
    first = sample.images[0]
    if isinstance(first, (str, Path)):
        return str(first)
    return getattr(first, "info", {}).get("path")


def load_samples(data: str, format: str | None = None, limit: int | None = None, max_frames: int | None = None,
                 **read_options: Any) -> tuple[list[Sample], RowPolicy]:
    """The first `limit` samples (None: all) with an answer to compare against, images (frames: `max_frames`
    at most, sampled evenly) decoded once (the first file's path kept in the first image's `info['path']`, see
    `image_path`); bad rows (unreadable images included) are skipped and counted in the returned policy."""
    check_limit(limit)
    policy = RowPolicy(skip_bad=True)
    answered = (s for s in read(data, format, policy, **read_options) if s.conversation[-1].role == "assistant")
    decoded = (policy.guard(_decode, s, max_frames) for s in answered)
    return list(islice((s for s in decoded if s is not None), limit)), policy


def _decode(sample: Sample, max_frames: int | None = None) -> Sample:
    images, path = sample.load_images(max_frames=max_frames), image_path(sample)
    if path is not None:
        images[0].info["path"] = path
    return replace(sample, images=images)


def evaluate(
    model: GitLLMForCausalLM,
    processor: GitLLMProcessor,
    samples: Sequence[Sample] | str,
    template: str | None = None,
    settings: GenerationSettings = GenerationSettings(max_new_tokens=32),
    batch_size: int = 8,
    out_dir: str | Path | None = None,
    progress: bool = True,
    limit: int | None = None,
    loss: bool = True,
    gallery_limit: int | None = None,
    feature_cache: bool = False,
    cache_dir: str | Path | None = None,
    blind: bool = True,
    blind_seed: int = BLIND_SEED,
    type_words: int = TYPE_WORDS,
    model_name: str | None = None,
) -> dict[str, Any]:
    """Metrics over `samples`, or the first `limit` (None: all) of a data source (`load_samples`, with the
    processor's instruction for readers that take one); questions are VQA, samples without a question are
    captions. `template` None: the processor's (the prompt format the model was trained with).

    Returns {'samples', 'loss', 'perplexity', 'answer_tokens', 'vqa_count', 'vqa_exact_match',
    'vqa_by_answer_type', 'vqa_by_question_type', 'caption_count', 'caption_bleu4', 'caption_cider'} (VQA /
    caption keys only when such samples exist). Per type: {type: {'count', 'exact_match', ...}}; answer types
    are yes/no, negated yes/no, number and other (`question_types.answer_type`), question types the first
    `type_words` words. `blind` (VQA) also answers every question with the images shuffled across rows and
    with zeroed image features (`blind.blind_answers`, seeded by `blind_seed`): 'vqa_blind_exact_match',
    'vqa_zeroed_exact_match' and 'vqa_blind_drop' (real - blind: how much the answers use the image), per
    type too; it costs two more answering passes and no image encoding with `feature_cache`.
    `loss=False` skips the validation-loss pass (answers only); `gallery_limit` caps the gallery at its
    first N images. `feature_cache` answers and scores from cached vision features (`gitllm.infer.features`,
    under `cache_dir`): each distinct image is encoded once, and never again by a later evaluation with the
    same encoder. With `out_dir`: metrics.json, answers.jsonl and gallery.html (naming the model as
    `model_name`, default its `name_or_path`) are written there."""
    check_limit(limit)
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
    others: dict[str, list[str]] = {}
    if vqa and blind:
        others = blind_answers(model, processor, [samples[i] for i in vqa],
                               None if features is None else [features[i] for i in vqa], blind_seed,
                               template=template, settings=settings, batch_size=batch_size, progress=progress)
    if vqa:
        metrics |= _vqa_metrics([pairs[i] for i in vqa], [answers[i] for i in vqa], others, type_words)
    if captions:
        scores = caption_scores([answers[i] for i in captions], [[pairs[i][1]] for i in captions])
        metrics |= {"caption_count": len(captions), "caption_bleu4": scores["bleu4"], "caption_cider": scores["cider"]}
    if out_dir is not None:
        blind_rows = {name: dict(zip(vqa, rows)) for name, rows in others.items()}
        _write(Path(out_dir), samples, pairs, answers, blind_rows, metrics, gallery_limit,
               model_name or str(model.name_or_path), type_words)
    return metrics


def _vqa_metrics(pairs: list[tuple[str, str]], answers: list[str], others: dict[str, list[str]],
                 type_words: int) -> dict[str, Any]:
    """vqa_* metrics of the questions `pairs` answered `answers` (and, in `others`, blind / zeroed)."""
    references = [reference for _, reference in pairs]
    scores = {"exact_match": matches(answers, references)}
    scores |= {f"{name}_exact_match": matches(rows, references) for name, rows in others.items()}
    metrics: dict[str, Any] = {"vqa_count": len(pairs)}
    metrics |= {f"vqa_{name}": sum(s) / len(s) for name, s in scores.items()}
    if "blind_exact_match" in scores:
        metrics["vqa_blind_drop"] = metrics["vqa_exact_match"] - metrics["vqa_blind_exact_match"]
    metrics["vqa_by_answer_type"] = accuracy_by([answer_type(q, r) for q, r in pairs], scores)
    metrics["vqa_by_question_type"] = accuracy_by([question_type(q, type_words) for q, _ in pairs], scores)
    return metrics


def _write(out: Path, samples: Sequence[Sample], pairs: list[tuple[str, str]], answers: list[str],
           others: dict[str, dict[int, str]], metrics: dict[str, Any], gallery_limit: int | None,
           model_name: str, type_words: int) -> None:
    """metrics.json, answers.jsonl (one row per sample: its image path, answer types, blind answers) and
    gallery.html (the first `gallery_limit` images)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    keys = ImageKeys()
    items, images = [], set()
    right = matches(answers, [reference for _, reference in pairs])
    with (out / "answers.jsonl").open("w", encoding="utf-8") as rows:
        for i, (sample, (question, reference), answer) in enumerate(zip(samples, pairs, answers)):
            correct = right[i] if question else None
            path = image_path(sample)
            row = {"source": sample.source, "row_id": sample.row_id, "image": path, "question": question,
                   "reference": reference, "answer": answer, "correct": correct}
            if question:
                row |= {"answer_type": answer_type(question, reference),
                        "question_type": question_type(question, type_words)}
            row |= {f"{name}_answer": by_row[i] for name, by_row in others.items() if i in by_row}
            rows.write(json.dumps(row) + "\n")
            key = path or "+".join(keys(sample))
            if gallery_limit is None or key in images or len(images) < gallery_limit:
                images.add(key)
                items.append(GalleryItem(frame_strip(sample.load_images()), question, reference, answer, correct,
                                         key, others.get("blind", {}).get(i)))
    data = ", ".join(dict.fromkeys(s.source for s in samples))
    details = {"model": model_name, "data": f"{data} ({len(samples)} samples)"}
    write_gallery(items, out / "gallery.html", "gitllm eval", metrics, details)
