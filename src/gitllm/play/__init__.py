"""gitllm.play: talk to a model (chat, ask), serve it (web page + OpenAI-compatible API), look inside it
(visual words). Plain functions, shared by the CLI and `gitllm demo`:

    model, processor = load_model("runs/easyvqa")
    ask(model, processor, ["cat.png"], ["What is this?"], max_new_tokens=16) -> ["a cat"]
    visual_words(model, processor, "cat.png", "overlay.png").table()
"""

from gitllm.infer.generate import GenerationSettings, ask, generate_answers, stream_answer
from gitllm.play.loader import load_model
from gitllm.play.visual_words import VisualWords, visual_words

__all__ = ["GenerationSettings", "VisualWords", "ask", "generate_answers", "load_model", "stream_answer",
           "visual_words"]
