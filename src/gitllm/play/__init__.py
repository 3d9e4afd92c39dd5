"""gitllm.play: talk to a model (chat, ask), serve it (web page + OpenAI-compatible API), look inside it
(visual words). Plain functions, shared by the CLI and `gitllm demo`; each loads on first access:

    model, processor = load_model("runs/easyvqa")
    ask(model, processor, ["cat.png"], ["What is this?"], max_new_tokens=16) -> ["a cat"]
    visual_words(model, processor, "cat.png", "overlay.png").table()
"""

from gitllm.lazy import lazy_getattr

_LAZY = {
    **dict.fromkeys(("GenerationSettings", "ask", "generate_answers", "stream_answer"), "gitllm.infer.generate"),
    "load_model": "gitllm.play.loader",
    **dict.fromkeys(("VisualWords", "visual_words"), "gitllm.play.visual_words"),
}

__all__ = sorted(_LAZY)
__getattr__ = lazy_getattr(__name__, _LAZY)
