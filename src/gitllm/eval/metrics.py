"""Answer metrics: normalised VQA exact match (ours), caption BLEU-4 and CIDEr-D (pycocoevalcap's scorers).

pycocoevalcap's own PTB tokenizer needs Java; `caption_tokens` does its job here (lowercase, punctuation
dropped), and the BLEU / CIDEr scorers themselves are pure Python.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

_PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}]")
_ARTICLES = {"a", "an", "the"}
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def normalize_answer(text: str) -> str:
    """Lowercase, punctuation removed, articles (a, an, the) dropped, whitespace collapsed."""
    words = _PUNCTUATION.sub(" ", text.lower()).split()
    return " ".join(w for w in words if w not in _ARTICLES)


def matches(predictions: Sequence[str], references: Sequence[str]) -> list[bool]:
    """Whether each prediction equals its reference after `normalize_answer`."""
    assert len(predictions) == len(references), (len(predictions), len(references))
    return [normalize_answer(p) == normalize_answer(r) for p, r in zip(predictions, references)]


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Fraction of predictions equal to their reference after `normalize_answer`."""
    assert len(references) > 0, "no references"
    return sum(matches(predictions, references)) / len(references)


def caption_tokens(text: str) -> str:
    """Lowercased words without punctuation, space-joined: the form pycocoevalcap's scorers expect."""
    return " ".join(_WORD.findall(text.lower()))


def caption_scores(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """Corpus BLEU-4 and CIDEr-D of one prediction per image against that image's references."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    assert len(predictions) == len(references) > 0 and all(references), "one prediction and >= 1 reference per image"
    results = {str(i): [caption_tokens(p)] for i, p in enumerate(predictions)}
    truths = {str(i): [caption_tokens(r) for r in refs] for i, refs in enumerate(references)}
    bleu, _ = Bleu(4).compute_score(truths, results, verbose=0)
    cider, _ = Cider().compute_score(truths, results)
    return {"bleu4": float(bleu[3]), "cider": float(cider)}
