"""gitllm.eval: validation loss/perplexity, VQA exact match, caption BLEU-4/CIDEr and an HTML gallery.
Each name loads its submodule on first access.

    model, processor = gitllm.play.load_model("runs/easyvqa")
    evaluate(model, processor, "easyvqa:test", limit=200, out_dir="eval/")  # -> {'vqa_exact_match': ..., ...}
"""

from gitllm.lazy import lazy_getattr

_LAZY = {
    **dict.fromkeys(("evaluate", "load_samples"), "gitllm.eval.evaluate"),
    **dict.fromkeys(("caption_scores", "exact_match", "normalize_answer"), "gitllm.eval.metrics"),
}

__all__ = sorted(_LAZY)
__getattr__ = lazy_getattr(__name__, _LAZY)
