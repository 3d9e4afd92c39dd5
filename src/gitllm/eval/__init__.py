"""gitllm.eval: validation loss/perplexity, VQA exact match (per question type, and image-blind: how much the
answers use the image), caption BLEU-4/CIDEr and an HTML gallery. Each name loads its submodule on first access.

    model, processor = gitllm.play.load_model("runs/easyvqa")
    metrics = evaluate(model, processor, "easyvqa:test", out_dir="eval/")  # -> {'vqa_exact_match': ..., ...}
    print(summary(metrics))  # accuracy, image-blind accuracy and the drop, per type
"""

from gitllm.lazy import lazy_getattr

_LAZY = {
    **dict.fromkeys(("evaluate", "load_samples"), "gitllm.eval.evaluate"),
    **dict.fromkeys(("caption_scores", "exact_match", "normalize_answer"), "gitllm.eval.metrics"),
    "summary": "gitllm.eval.report",
}

__all__ = sorted(_LAZY)
__getattr__ = lazy_getattr(__name__, _LAZY)
