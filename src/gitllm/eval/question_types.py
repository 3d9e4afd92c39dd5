"""Question types for per-type accuracy: the answer type (VQA v2's yes/no, number, other, with yes/no split by
negation) and the question type (its first words, the VQA v2 way of grouping questions).

For easy-VQA the answer types are its three kinds: 'other' are exactly its what-questions, 'negated yes/no'
its "is there not ..." / "is no ... present?" questions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from gitllm.eval.metrics import normalize_answer

ANSWER_TYPES = ("yes/no", "negated yes/no", "number", "other")
TYPE_WORDS = 2  # words of a question that name its type ("is there", "what color", "how many")
_NUMBER_WORDS = set("zero one two three four five six seven eight nine ten eleven twelve".split())
_NEGATION = re.compile(r"\b(?:not|no|never)\b|n't\b")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def answer_type(question: str, reference: str) -> str:
    """'yes/no' or 'negated yes/no' (a negation word in the question) when the reference is yes or no,
    'number' when it is a number, else 'other'."""
    answer = normalize_answer(reference)
    if answer in ("yes", "no"):
        return "negated yes/no" if _NEGATION.search(question.lower()) else "yes/no"
    if answer.isdigit() or answer in _NUMBER_WORDS:
        return "number"
    return "other"


def question_type(question: str, words: int = TYPE_WORDS) -> str:
    """The question's first `words` words, lowercased, punctuation dropped ("Is there a cat?" -> "is there")."""
    return " ".join(_WORD.findall(question.lower())[:words])


def accuracy_by(types: Sequence[str], scores: Mapping[str, Sequence[bool]]) -> dict[str, dict[str, float | int]]:
    """{type: {'count': n, name: accuracy of scores[name] over that type's rows}}, the most frequent type
    first; the counts add up to len(types)."""
    assert all(len(s) == len(types) for s in scores.values()), "one score per row"
    rows: dict[str, list[int]] = {}
    for i, kind in enumerate(types):
        rows.setdefault(kind, []).append(i)
    ordered = sorted(rows.items(), key=lambda item: (-len(item[1]), item[0]))
    return {kind: {"count": len(index), **{name: sum(s[i] for i in index) / len(index) for name, s in scores.items()}}
            for kind, index in ordered}
