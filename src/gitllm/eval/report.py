"""Reading `evaluate`'s metrics: the text summary `gitllm eval` prints and the tables of the gallery's header."""

from __future__ import annotations

from typing import Any

SCORES = {"exact_match": "real", "blind_exact_match": "blind", "zeroed_exact_match": "zeroed"}
SHOWN_TYPES = 12  # most frequent types in a table; the rest share one row
TABLES = {"vqa_by_answer_type": "by answer type", "vqa_by_question_type": "by question type (first words)"}


def headline(metrics: dict[str, Any]) -> list[str]:
    """One line per fact: VQA accuracy, its image-blind scores and their drop, loss, caption scores."""
    lines = []
    if "vqa_count" in metrics:
        lines.append(f"VQA exact match: {metrics['vqa_exact_match']:.1%} on {metrics['vqa_count']} questions")
    if "vqa_blind_exact_match" in metrics:
        lines.append(f"image-blind: {metrics['vqa_blind_exact_match']:.1%} with the images shuffled across "
                     f"questions, {metrics['vqa_zeroed_exact_match']:.1%} with zeroed image features")
        lines.append(f"image use (real - blind): {100 * metrics['vqa_blind_drop']:+.1f} points")
    if "loss" in metrics:
        lines.append(f"validation loss {metrics['loss']:.4f}, perplexity {metrics['perplexity']:.3f} "
                     f"({metrics['answer_tokens']} answer tokens)")
    if "caption_count" in metrics:
        lines.append(f"captions: {metrics['caption_count']}, BLEU-4 {metrics['caption_bleu4']:.3f}, "
                     f"CIDEr {metrics['caption_cider']:.3f}")
    return lines


def type_table(by_type: dict[str, dict[str, float]], top: int = SHOWN_TYPES) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a per-type accuracy table: type, count, each score in percent; the `top` most
    frequent types, then one row for the rest, so the counts add up to the total."""
    names = [name for name in SCORES if name in next(iter(by_type.values()), {})]
    header = ["type", "count", *(SCORES[name] for name in names)]
    shown = list(by_type.items())[:top]
    rest = list(by_type.values())[top:]
    if rest:
        count = sum(row["count"] for row in rest)
        merged = {name: sum(row[name] * row["count"] for row in rest) / count for name in names}
        shown.append((f"({len(rest)} more types)", {"count": count, **merged}))
    rows = [[kind, str(row["count"]), *(f"{100 * row[name]:.1f}" for name in names)] for kind, row in shown]
    return header, rows


def summary(metrics: dict[str, Any]) -> str:
    """The text `gitllm eval` prints: `headline`, then the per-type tables."""
    lines = headline(metrics)
    for key, title in TABLES.items():
        if metrics.get(key):
            header, rows = type_table(metrics[key])
            widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
            lines.append(f"{title}:")
            for row in (header, *rows):
                lines.append("  " + "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                                              for i, (cell, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)
