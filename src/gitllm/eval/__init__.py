"""gitllm.eval: validation loss/perplexity, VQA exact match (per question type, and image-blind: how much the
answers use the image), caption BLEU-4/CIDEr and an HTML gallery.

    model, processor = gitllm.play.load_model("runs/easyvqa")
    metrics = evaluate(model, processor, "easyvqa:test", out_dir="eval/")  # -> {'vqa_exact_match': ..., ...}
    print(summary(metrics))  # accuracy, image-blind accuracy and the drop, per type
"""

from gitllm.eval.evaluate import evaluate, load_samples
from gitllm.eval.metrics import caption_scores, exact_match, normalize_answer
from gitllm.eval.report import summary

__all__ = ["caption_scores", "evaluate", "exact_match", "load_samples", "normalize_answer", "summary"]
