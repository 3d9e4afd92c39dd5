"""`gitllm chat`: a terminal conversation about an image (or several, read as frames), answers streamed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TextIO

from PIL import Image

from gitllm.data import Turn
from gitllm.data.images import ImageError, ImageSource, load_image
from gitllm.model import GitLLMForCausalLM, GitLLMProcessor
from gitllm.infer.generate import GenerationSettings, question_sample, stream_answer

HELP = ("commands: /image PATH (switch image, clears history), /add PATH (one more image after the others, "
        "clears history), /reset (clear history), /quit")


class ChatSession:
    """The images and the turns so far; each answer is generated from the whole history (multi-turn)."""

    def __init__(self, model: GitLLMForCausalLM, processor: GitLLMProcessor, template: str | None = None,
                 instruction: str | None = None, settings: GenerationSettings = GenerationSettings()) -> None:
        """`template` / `instruction` None: the processor's."""
        self.model, self.processor, self.template = model, processor, template or processor.template
        self.instruction = processor.instruction if instruction is None else instruction
        self.settings = settings
        self.images: list[Image.Image] = []
        self.turns: list[Turn] = []

    def set_images(self, sources: Sequence[ImageSource]) -> None:
        """Switch to new images, read together as frames (an ImageError if one cannot be loaded); history
        restarts."""
        self.images = [load_image(source) for source in sources]
        self.turns = []

    def set_image(self, source: ImageSource) -> None:
        """Switch to one new image; history restarts."""
        self.set_images([source])

    def add_image(self, source: ImageSource) -> None:
        """One more image after the current ones; history restarts."""
        self.set_images([*self.images, source])

    def say(self, question: str, write: Callable[[str], object]) -> str:
        """Stream the answer to `question` through `write`; returns the answer and keeps both in history."""
        if not self.images:
            raise ValueError("no image yet: load one with /image PATH")
        sample = question_sample(self.images, [*self.turns, Turn("user", question)], self.instruction)
        pieces = []
        for piece in stream_answer(self.model, self.processor, sample, self.template, self.settings):
            pieces.append(piece)
            write(piece)
        answer = "".join(pieces).strip()
        self.turns += [Turn("user", question.strip()), Turn("assistant", answer or "...")]
        return answer


def run_chat(session: ChatSession, read: Callable[[str], str] = input, out: TextIO | None = None) -> None:
    """The read-answer loop until /quit or end of input; bad input prints an error and goes on."""
    import sys

    out = out or sys.stdout

    def write(text: str) -> None:
        out.write(text)
        out.flush()

    write(HELP + "\n")
    while True:
        try:
            line = read("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            write("\n")
            return
        command, _, argument = line.partition(" ")
        try:
            if command == "/quit":
                return
            if command == "/reset":
                session.turns = []
                write("history cleared\n")
            elif command in ("/image", "/add"):
                (session.set_image if command == "/image" else session.add_image)(argument.strip())
                image = session.images[-1]
                write(f"image {len(session.images)}: {argument.strip()} ({image.width}x{image.height})\n")
            elif command.startswith("/"):
                write(f"unknown command {command}; {HELP}\n")
            else:
                write("model> ")
                session.say(line, write)
                write("\n")
        except (ImageError, ValueError) as err:
            write(f"error: {err}\n")
