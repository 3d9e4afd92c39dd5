"""The OpenAI-compatible chat-completions contract: pydantic request models -> (Sample, settings), response bodies.

Accepted: `messages` with string content or content parts `{"type": "text"}` and
`{"type": "image_url", "image_url": {"url": "data:image/...;base64,..."}}` (data URLs only: the server
fetches nothing); `system` messages become the instruction. Settings: `max_tokens` (or
`max_completion_tokens`), `temperature` (default 0: greedy), `top_p`, `seed`, `n` = 1, `stream`, and the
extension `num_beams`. Fields are validated by type, strictly: `"stream": "false"` or `max_tokens: 3.9`
are refused, not coerced.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from gitllm.data import Sample, Turn
from gitllm.data.images import ImageError, load_image
from gitllm.infer.generate import GenerationSettings, question_sample

DEFAULT_MAX_TOKENS = 64


class ApiError(Exception):
    """A request the server refuses: HTTP `status` and an OpenAI-style error body."""

    def __init__(self, status: int, message: str, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code

    def body(self) -> dict[str, Any]:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {"error": {"message": self.message, "type": kind, "code": self.code}}


def _utf8(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text holds an unpaired UTF-16 surrogate (\\ud800-\\udfff): send valid Unicode") from None
    return text


Text = Annotated[str, AfterValidator(_utf8)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class TextPart(_Strict):
    type: Literal["text"]
    text: Text


class ImageUrl(_Strict):
    url: str = Field(description="a data:image/...;base64,... URL (remote URLs are not fetched)")
    detail: str | None = None


class ImagePart(_Strict):
    type: Literal["image_url"]
    image_url: ImageUrl


class Message(_Strict):
    role: Literal["system", "user", "assistant"]
    content: Text | list[Annotated[TextPart | ImagePart, Field(discriminator="type")]]


class StreamOptions(_Strict):
    include_usage: bool = False


class ChatCompletionRequest(_Strict):
    """The body of `POST /v1/chat/completions` (unknown fields are ignored, as OpenAI clients send extras)."""

    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(None, ge=1, le=4096)
    temperature: float | None = Field(None, ge=0, le=5, description="0 (the default here): greedy")
    top_p: float | None = Field(None, gt=0, le=1)
    n: int | None = Field(None, ge=1, le=1, description="only 1")
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    num_beams: int = Field(1, ge=1, le=8, description="gitllm extension: beam search (answered whole, alone)")

    def settings(self) -> GenerationSettings:
        max_tokens = self.max_completion_tokens or self.max_tokens or DEFAULT_MAX_TOKENS
        temperature = 0.0 if self.temperature is None else self.temperature
        return GenerationSettings(max_tokens, temperature, 1.0 if self.top_p is None else self.top_p, self.num_beams)


class VisualWordsRequest(_Strict):
    """The body of `POST /v1/visual-words`."""

    image: str = Field(description="a data:image/...;base64,... URL")
    metric: Literal["cosine", "dot"] = "cosine"


@dataclass(frozen=True)
class ChatRequest:
    """A validated request: the prompt, how to generate, whether to stream."""

    sample: Sample
    settings: GenerationSettings
    stream: bool
    include_usage: bool = False
    seed: int | None = None


def decode_image(url: str, max_pixels: int) -> Any:
    """A `data:image/...;base64,...` URL -> RGB PIL image; anything else is an ApiError (400/413)."""
    if not url.startswith("data:"):
        raise ApiError(400, "image_url.url must be a data: URL with base64 image bytes (remote URLs are not fetched)")
    header, _, payload = url.partition(",")
    if not header.endswith(";base64"):
        raise ApiError(400, "image data URL must be base64-encoded (data:image/png;base64,...)")
    try:
        data = base64.b64decode(payload, validate=True)
        return load_image(data, max_pixels=max_pixels)
    except binascii.Error:
        raise ApiError(400, "image data URL is not valid base64", "bad_base64") from None
    except ImageError as err:
        status = 413 if err.reason == "image_too_large" else 400
        raise ApiError(status, f"image rejected: {err.detail}", err.reason) from None


def check_image_count(urls: list[str], max_images: int) -> None:
    """The one place that says how many images a conversation may carry: 1 to `max_images`, read together
    as frames in the order they appear."""
    if not urls:
        raise ApiError(400, "no image: add an image_url content part (a data: URL) to a message", "no_image")
    if len(urls) > max_images:
        raise ApiError(400, f"{len(urls)} images in one conversation; this server takes at most {max_images} "
                            "(read together as frames): send fewer", "too_many_images")


def to_chat_request(body: ChatCompletionRequest, max_pixels: int, default_instruction: str = "",
                    max_images: int = 1) -> ChatRequest:
    """A validated body -> ChatRequest (no system message: `default_instruction`); every image part of the
    conversation, in order, becomes one frame of the sample. ApiError names problems."""
    system, turns, urls = [], [], []
    for message in body.messages:
        parts = [message.content] if isinstance(message.content, str) else message.content
        texts = [p if isinstance(p, str) else p.text for p in parts if isinstance(p, str) or p.type == "text"]
        urls += [p.image_url.url for p in parts if not isinstance(p, str) and p.type == "image_url"]
        text = " ".join(texts)
        if message.role == "system":
            system.append(text)
        else:
            turns.append(Turn(message.role, text))
    check_image_count(urls, max_images)
    try:
        settings = body.settings()
    except ValueError as err:
        raise ApiError(400, str(err)) from None
    images = [decode_image(url, max_pixels) for url in urls]
    try:
        sample = question_sample(images, turns, " ".join(system) if system else default_instruction)
    except ValueError as err:  # an empty question, or roles that do not alternate
        raise ApiError(400, str(err), "empty_question" if "empty" in str(err) else "bad_conversation") from None
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return ChatRequest(sample, settings, body.stream, include_usage, body.seed)


def usage_body(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def completion_body(model_name: str, answer: str, completion_tokens: int, prompt_tokens: int,
                    finish_reason: str) -> dict[str, Any]:
    """A `chat.completion` response."""
    return {
        **_envelope(model_name, "chat.completion"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": finish_reason}],
        "usage": usage_body(prompt_tokens, completion_tokens),
    }


def chunk_body(model_name: str, completion_id: str, delta: dict[str, str], finish_reason: str | None,
               usage: dict[str, int] | None = None) -> dict[str, Any]:
    """One `chat.completion.chunk` of a stream (all chunks of a stream share `completion_id`); `usage`: the
    final chunk asked for by `stream_options.include_usage` (no choices)."""
    body = {**_envelope(model_name, "chat.completion.chunk"), "id": completion_id}
    if usage is not None:
        return {**body, "choices": [], "usage": usage}
    return {**body, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def _envelope(model_name: str, kind: str) -> dict[str, Any]:
    return {"id": new_completion_id(), "object": kind, "created": int(time.time()), "model": model_name}
