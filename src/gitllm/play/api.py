"""The OpenAI-compatible chat-completions contract: request -> (Sample, settings), answers -> response bodies.

Accepted: `messages` with string content or content parts `{"type": "text"}` and
`{"type": "image_url", "image_url": {"url": "data:image/...;base64,..."}}` (exactly one image per
conversation, data URLs only: the server fetches nothing); a `system` message becomes the instruction.
Settings: `max_tokens` (or `max_completion_tokens`), `temperature` (default 0: greedy), `top_p`, `n` = 1,
`stream`, and the extension `num_beams`.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class ChatRequest:
    sample: Sample
    settings: GenerationSettings
    stream: bool


def decode_image(url: Any, max_pixels: int) -> Any:
    """A `data:image/...;base64,...` URL -> RGB PIL image; anything else is an ApiError (400/413)."""
    if not isinstance(url, str) or not url.startswith("data:"):
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


def parse_chat_request(body: Any, max_pixels: int, default_instruction: str = "") -> ChatRequest:
    """Validate a decoded JSON body into a ChatRequest (no system message: `default_instruction`); every
    problem is an ApiError naming it."""
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty list")
    system, turns, images = [], [], []
    for k, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant"):
            raise ApiError(400, f"messages[{k}] must be an object with role system, user or assistant")
        text, found = _content(message.get("content"), k)
        images += found
        if message["role"] == "system":
            system.append(text)
        else:
            turns.append(Turn(message["role"], text))
    if len(images) != 1:
        raise ApiError(400, f"exactly one image_url is needed per conversation, got {len(images)}")
    if body.get("n", 1) != 1:
        raise ApiError(400, "only n = 1 is supported")
    settings = _settings(body)
    image = decode_image(images[0], max_pixels)
    try:
        sample = question_sample(image, turns, " ".join(system) if system else default_instruction)
    except ValueError as err:  # an empty question, or roles that do not alternate
        raise ApiError(400, str(err), "empty_question" if "empty" in str(err) else "bad_conversation") from None
    return ChatRequest(sample, settings, bool(body.get("stream", False)))


def _content(content: Any, k: int) -> tuple[str, list[Any]]:
    """(text, image URLs) of one message's content: a string or a list of text / image_url parts."""
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise ApiError(400, f"messages[{k}].content must be a string or a list of parts")
    texts, images = [], []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url" and isinstance(part.get("image_url"), dict):
            images.append(part["image_url"].get("url"))
        else:
            raise ApiError(400, f"messages[{k}].content has a part that is neither text nor image_url: {part!r:.80}")
    return " ".join(texts), images


def _settings(body: dict[str, Any]) -> GenerationSettings:
    values = {
        "max_new_tokens": body.get("max_completion_tokens", body.get("max_tokens", DEFAULT_MAX_TOKENS)),
        "temperature": body.get("temperature", 0.0),
        "top_p": body.get("top_p", 1.0),
        "num_beams": body.get("num_beams", 1),
    }
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ApiError(400, f"{name} must be a number, got {value!r:.40}")
    try:
        return GenerationSettings(int(values["max_new_tokens"]), float(values["temperature"]),
                                  float(values["top_p"]), int(values["num_beams"]))
    except ValueError as err:
        raise ApiError(400, str(err)) from None


def completion_body(model_name: str, answer: str, completion_tokens: int, prompt_tokens: int,
                    finish_reason: str) -> dict[str, Any]:
    """A `chat.completion` response."""
    return {
        **_envelope(model_name, "chat.completion"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def chunk_body(model_name: str, completion_id: str, delta: dict[str, str], finish_reason: str | None) -> dict[str, Any]:
    """One `chat.completion.chunk` of a stream (all chunks of a stream share `completion_id`)."""
    return {**_envelope(model_name, "chat.completion.chunk"), "id": completion_id,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def _envelope(model_name: str, kind: str) -> dict[str, Any]:
    return {"id": new_completion_id(), "object": kind, "created": int(time.time()), "model": model_name}
