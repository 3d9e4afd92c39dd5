"""`gitllm serve`: the web playground page and an OpenAI-compatible `POST /v1/chat/completions`, one process.

A standard-library threading HTTP server: each request gets a thread, the model runs one request at a time
(a lock) and at most `max_waiting` requests wait for it (beyond that: 503). Routes:
`GET /` the page, `GET /health`, `GET /v1/models`, `POST /v1/chat/completions` (JSON or `stream` SSE),
`POST /v1/visual-words` (`{"image": data URL, "metric": "cosine"|"dot"}` -> overlay PNG + counts).
"""

from __future__ import annotations

import base64
import io
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

import torch

from gitllm.model import GitLLMForCausalLM, GitLLMProcessor
from gitllm.model.vision import num_image_tokens
from gitllm.play.api import ApiError, ChatRequest, chunk_body, completion_body, decode_image, new_completion_id, parse_chat_request
from gitllm.infer.generate import generate_batch, prompt_batch, stream_answer
from gitllm.play.visual_words import METRICS, visual_words

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Limits:
    """max_body_bytes: largest request body (413 beyond); max_pixels: largest decoded image (413 beyond);
    max_waiting: requests allowed to queue for the model (503 beyond)."""

    max_body_bytes: int = 16 * 2**20
    max_pixels: int = 4096 * 4096
    max_waiting: int = 64


class Playground:
    """The model behind the server, used by one request at a time."""

    def __init__(self, model: GitLLMForCausalLM, processor: GitLLMProcessor, template: str | None = None,
                 instruction: str | None = None, model_name: str = "gitllm", limits: Limits = Limits()) -> None:
        """`instruction`: used when a request has no system message; it and `template` default to the
        processor's."""
        self.model, self.processor, self.template = model, processor, template or processor.template
        self.instruction = processor.instruction if instruction is None else instruction
        self.model_name, self.limits = model_name, limits
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(limits.max_waiting + 1)

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for the model (queueing), or ApiError 503 when too many requests already wait."""
        if not self._slots.acquire(blocking=False):
            raise ApiError(503, "the model is busy: too many requests are waiting; retry later", "busy")
        try:
            with self._lock, torch.inference_mode():
                yield
        finally:
            self._slots.release()

    def complete(self, request: ChatRequest) -> dict[str, Any]:
        """A whole `chat.completion` response."""
        prompt = prompt_batch(self.processor, [request.sample], self.template)
        with self.turn():
            tokens = generate_batch(self.model, self.processor.tokenizer, prompt, request.settings)[0]
        config = self.model.config
        image_tokens = num_image_tokens(config.vision_config, config.keep_cls, tuple(prompt["pixel_values"].shape[-2:]))
        prompt_tokens = image_tokens + int(prompt["input_ids"].shape[1])
        answer = self.processor.tokenizer.decode(tokens, skip_special_tokens=True).strip()
        finish = "length" if len(tokens) >= request.settings.max_new_tokens else "stop"
        return completion_body(self.model_name, answer, len(tokens), prompt_tokens, finish)

    def stream(self, request: ChatRequest) -> Iterator[dict[str, Any]]:
        """`chat.completion.chunk` bodies: the role, then text pieces as generated, then the finish reason."""
        completion_id, pieces = new_completion_id(), []
        with self.turn():
            yield chunk_body(self.model_name, completion_id, {"role": "assistant"}, None)
            for piece in stream_answer(self.model, self.processor, request.sample, self.template, request.settings):
                if piece:
                    pieces.append(piece)
                    yield chunk_body(self.model_name, completion_id, {"content": piece}, None)
        # The streamer hands out text, not tokens: the length is counted again (a close estimate).
        length = len(self.processor.tokenizer("".join(pieces), add_special_tokens=False)["input_ids"])
        finish = "length" if length >= request.settings.max_new_tokens else "stop"
        yield chunk_body(self.model_name, completion_id, {}, finish)

    def visual_words(self, body: Any) -> dict[str, Any]:
        """Overlay PNG (data URL), counts and prefix tokens for `{"image": data URL, "metric": ...}`."""
        from gitllm.play.overlay import DPI, overlay_figure

        if not isinstance(body, dict):
            raise ApiError(400, "request body must be a JSON object")
        metric = body.get("metric", "cosine")
        if metric not in METRICS:
            raise ApiError(400, f"metric must be one of {METRICS}, got {metric!r:.40}")
        image = decode_image(body.get("image"), self.limits.max_pixels)
        with self.turn():
            result = visual_words(self.model, self.processor, image, metric=metric, sanity_tokens=0)
        png = io.BytesIO()
        overlay_figure(result).savefig(png, format="png", dpi=DPI)
        return {
            "png": "data:image/png;base64," + base64.b64encode(png.getvalue()).decode(),
            "grid": list(result.grid),
            "counts": result.counts.most_common(),
            "prefix": result.prefix_words,
            "table": result.table(),
        }


class PlaygroundServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], playground: Playground) -> None:
        super().__init__(address, _Handler)
        self.playground = playground


def make_server(playground: Playground, host: str = "127.0.0.1", port: int = 8000) -> PlaygroundServer:
    """A bound server (port 0: any free port; see `server.server_port`); call `serve_forever()`."""
    if host not in LOOPBACK:
        print(f"warning: serving on {host}, reachable beyond this machine; the playground has no authentication",
              file=sys.stderr)
    return PlaygroundServer((host, port), playground)


class _Handler(BaseHTTPRequestHandler):
    server: PlaygroundServer
    server_version = "gitllm"

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"[gitllm serve] {self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        playground = self.server.playground
        if self.path in ("/", "/index.html"):
            page = resources.files("gitllm.play").joinpath("page.html").read_bytes()
            self._send(200, page, "text/html; charset=utf-8")
        elif self.path == "/health":
            self._json(200, {"status": "ok"})
        elif self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": playground.model_name, "object": "model",
                                                         "owned_by": "gitllm"}]})
        else:
            self._json(404, ApiError(404, f"no route GET {self.path}", "not_found").body())

    def do_POST(self) -> None:
        playground = self.server.playground
        try:
            body = self._read_json(playground.limits.max_body_bytes)
            if self.path == "/v1/chat/completions":
                request = parse_chat_request(body, playground.limits.max_pixels, playground.instruction)
                if request.stream:
                    return self._stream(playground.stream(request))
                self._json(200, playground.complete(request))
            elif self.path == "/v1/visual-words":
                self._json(200, playground.visual_words(body))
            else:
                raise ApiError(404, f"no route POST {self.path}", "not_found")
        except ApiError as err:
            self._json(err.status, err.body())
        except ValueError as err:  # the model refusing an input (e.g. a prompt longer than the LLM allows)
            self._json(400, ApiError(400, str(err), "invalid_input").body())
        except Exception as err:  # noqa: BLE001 — one failed request must not stop the server
            self._json(500, ApiError(500, f"{type(err).__name__}: {err}", "internal").body())

    def _read_json(self, limit: int) -> Any:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise ApiError(411, "a Content-Length header is required", "length_required")
        if int(length) > limit:
            self._discard(int(length), 8 * limit)
            raise ApiError(413, f"request body of {int(length)} bytes is over the limit of {limit}", "body_too_large")
        raw = self.rfile.read(int(length))
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ApiError(400, f"request body is not valid JSON ({err})", "bad_json") from None

    def _discard(self, length: int, most: int) -> None:
        """Read and drop a refused body (up to `most` bytes) so the client sees the answer, not a reset."""
        self.close_connection = True
        left = min(length, most)
        while left > 0 and (chunk := self.rfile.read(min(left, 1 << 20))):
            left -= len(chunk)

    def _stream(self, chunks: Iterator[dict[str, Any]]) -> None:
        """Server-sent events; an error after the first byte becomes an error event (the status is sent)."""
        try:
            first = next(chunks)
        except ApiError as err:
            return self._json(err.status, err.body())
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        try:
            self._event(first)
            for chunk in chunks:
                self._event(chunk)
        except (BrokenPipeError, ConnectionResetError):
            chunks.close()  # the client left: stop generating
            return
        except Exception as err:  # noqa: BLE001
            status = err.status if isinstance(err, ApiError) else 500
            self._event(ApiError(status, f"{type(err).__name__}: {err}", "stream_failed").body())
        self.wfile.write(b"data: [DONE]\n\n")

    def _event(self, body: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(body).encode() + b"\n\n")
        self.wfile.flush()

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
