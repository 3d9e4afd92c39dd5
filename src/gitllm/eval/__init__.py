"""gitllm.eval: validation loss/perplexity, VQA exact match, caption BLEU-4/CIDEr and an HTML gallery.

    model, processor = gitllm.play.load_model("runs/easyvqa")
    evaluate(model, processor, "easyvqa:test", limit=200, out_dir="eval/")  # -> {'vqa_exact_match': ..., ...}
"""

from gitllm.eval.evaluate import evaluate, load_samples
from gitllm.eval.metrics import caption_scores, exact_match, normalize_answer

__all__ = ["caption_scores", "evaluate", "exact_match", "load_samples", "normalize_answer"]
