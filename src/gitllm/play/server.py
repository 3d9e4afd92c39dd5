"""`gitllm serve`: the web playground page and an OpenAI-compatible `POST /v1/chat/completions`, one process.

FastAPI on uvicorn. Requests are validated by pydantic models (`gitllm.play.api`), their images decoded and
prompts encoded in worker threads, then decoded by the one `Engine` thread, batched with whatever else is
running (continuous batching). Routes: `GET /` the page, `GET /health`, `GET /docs` (OpenAPI),
`GET /v1/models`, `POST /v1/chat/completions` (JSON or `stream` SSE), `POST /v1/visual-words`
(`{"image": data URL, "metric": "cosine"|"dot"}` -> overlay PNG + counts). With an API key set, `/v1/*`
needs `Authorization: Bearer KEY`.

Protection (`gitllm.play.http_guards`): bodies over `max_body_bytes` get 413; a client that has not sent its
request head, or its body, within `timeout_s` is dropped (408 for a late body); at most `max_waiting`
requests wait for the model (503 beyond); a client that disconnects stops its generation; a 500 logs its
traceback and tells the client only that the server failed.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import io
import json
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any

import torch
import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from gitllm.data import Encoder
from gitllm.data.images import ImageError
from gitllm.model import GitLLMForCausalLM, GitLLMProcessor
from gitllm.model.vision import num_image_tokens
from gitllm.play.api import (ApiError, ChatCompletionRequest, ChatRequest, VisualWordsRequest, chunk_body,
                             completion_body, decode_image, new_completion_id, to_chat_request, usage_body)
from gitllm.play.decode_batch import Row
from gitllm.play.engine import Busy, Engine
from gitllm.play.http_guards import BodyLimits, HeadDeadline

log = logging.getLogger("gitllm.serve")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
API_KEY_ENV = "GITLLM_API_KEY"
DISCONNECT_POLL_S = 0.25  # how often a non-streaming request checks that its client is still there


@dataclass(frozen=True)
class Limits:
    """max_body_bytes: largest request body (413 beyond); max_pixels: largest decoded image (413 beyond);
    max_waiting: requests allowed to wait for the model (503 beyond); max_batch: rows decoded together;
    max_prompt_tokens: longest prompt the LLM sees, image tokens included (400 beyond); max_images: images
    per conversation, read as frames (400 beyond; never more than the model's temporal embeddings); prefill_chunk: text
    positions prefilled between two decode steps (a long prompt holds the others one chunk at a time);
    timeout_s: for a request's head and body, and idle keep-alive connections;
    api_key: when set, `/v1/*` needs `Authorization: Bearer <api_key>`;
    autocast: the dtype the model computes in with float32 weights (None or float32: plain fp32)."""

    max_body_bytes: int = 16 * 2**20
    max_pixels: int = 4096 * 4096
    max_waiting: int = 64
    max_batch: int = 8
    max_prompt_tokens: int = 2048
    max_images: int = 8
    prefill_chunk: int = 512
    timeout_s: float = 10.0
    api_key: str | None = None
    autocast: str | None = None

    def __post_init__(self) -> None:
        bad = [f"{f.name} must be at least 1 (got {getattr(self, f.name)!r})" for f in fields(self)
               if f.name not in ("api_key", "autocast") and not getattr(self, f.name) >= 1]
        if self.max_batch > 256:
            bad.append(f"max_batch must be at most 256 (got {self.max_batch})")
        if self.autocast not in (None, "float32", "bfloat16"):
            bad.append(f"autocast must be float32 or bfloat16 (got {self.autocast!r})")
        if self.api_key is not None and not self.api_key.strip():
            bad.append("api_key is empty: give a key or none")
        if bad:
            raise ValueError("server options: " + "; ".join(bad))


class Playground:
    """The model behind the server: prompts are prepared in request threads, decoded by one Engine."""

    def __init__(self, model: GitLLMForCausalLM, processor: GitLLMProcessor, template: str | None = None,
                 instruction: str | None = None, model_name: str = "gitllm", limits: Limits = Limits()) -> None:
        """`instruction`: used when a request has no system message; it and `template` default to the
        processor's. Call `start()` before serving."""
        self.model, self.processor, self.template = model, processor, template or processor.template
        self.instruction = processor.instruction if instruction is None else instruction
        self.model_name, self.limits = model_name, limits
        self.encoder = Encoder(processor.tokenizer, processor.image_processor, self.template)
        self.engine = Engine(model, processor.tokenizer, limits.max_batch, limits.max_waiting, limits.prefill_chunk,
                             limits.autocast)
        self._image_tokens: dict[tuple[int, int], int] = {}
        self.max_images = min(limits.max_images, model.config.num_image_with_embedding or limits.max_images)

    def start(self) -> None:
        self.engine.start()

    def stop(self) -> None:
        self.engine.stop()

    def prepare(self, body: ChatCompletionRequest) -> tuple[ChatRequest, dict[str, torch.Tensor], int]:
        """(request, encoded prompt, prompt tokens the LLM sees) or an ApiError (runs in a worker thread)."""
        chat = to_chat_request(body, self.limits.max_pixels, self.instruction, self.max_images)
        try:
            prompt = self.encoder.prompt(chat.sample)
        except (ImageError, ValueError) as err:  # e.g. an image of extreme aspect ratio
            raise ApiError(400, f"the prompt could not be encoded: {err}", "bad_prompt") from None
        tokens = self.prompt_tokens(prompt)
        limit = min(self.limits.max_prompt_tokens, self.model.lm_adapter.max_positions or tokens)
        if tokens > limit:
            raise ApiError(400, f"the prompt is {tokens} tokens (image and text), over this server's limit of "
                                f"{limit}: shorten the conversation", "prompt_too_long")
        return chat, prompt, tokens

    def prompt_tokens(self, prompt: dict[str, torch.Tensor]) -> int:
        """Positions the LLM sees for an encoded prompt: prefix tokens + image tokens after the projection
        (one per frame for a pooling projection) + text tokens."""
        pixels = prompt["pixel_values"]
        frames = pixels.shape[0] if pixels.ndim == 4 else 1
        size = tuple(pixels.shape[-2:])
        if size not in self._image_tokens:
            config = self.model.config
            features = num_image_tokens(config.vision_config, config.keep_cls, size)
            projection = self.model.visual_projection
            with torch.inference_mode():
                probe = torch.zeros(1, features, config.vision_config.hidden_size,
                                    dtype=next(projection.parameters()).dtype)
                self._image_tokens[size] = projection(probe).shape[1]
        return len(self.model.config.prefix_token_ids) + frames * self._image_tokens[size] + len(prompt["input_ids"])

    def submit(self, chat: ChatRequest, prompt: dict[str, torch.Tensor]) -> tuple[Row, asyncio.Queue]:
        """Queue a prompt for the engine; its tokens then the finish reason arrive on the returned queue."""
        loop, events = asyncio.get_running_loop(), asyncio.Queue()
        generator = None if chat.seed is None else torch.Generator().manual_seed(chat.seed)
        row = Row(prompt, chat.settings, generator=generator,
                  on_token=lambda token: loop.call_soon_threadsafe(events.put_nowait, token),
                  on_finish=lambda reason: loop.call_soon_threadsafe(events.put_nowait, reason))
        self.engine.submit(row)
        return row, events

    def decode(self, tokens: list[int]) -> str:
        return self.processor.tokenizer.decode(tokens, skip_special_tokens=True)

    def visual_words(self, image: Any, metric: str) -> dict[str, Any]:
        """Overlay PNG (data URL), counts and prefix tokens of an image (the model part on the engine thread)."""
        from gitllm.play.visual_words import visual_words

        result = self.engine.call(lambda: visual_words(self.model, self.processor, image, metric=metric,
                                                       sanity_tokens=0)).result()
        from gitllm.play.overlay import DPI, overlay_figure

        png = io.BytesIO()
        overlay_figure(result).savefig(png, format="png", dpi=DPI)
        return {
            "png": "data:image/png;base64," + base64.b64encode(png.getvalue()).decode(),
            "grid": list(result.grid),
            "counts": result.counts.most_common(),
            "prefix": result.prefix_words,
            "words": result.words,
            "table": result.table(),
        }


async def _events(row: Row, queue: asyncio.Queue,
                  disconnected: Callable[[], Awaitable[bool]] | None = None) -> AsyncIterator[int | str]:
    """Token ids, then the finish reason (a str); the row is cancelled when this ends early (also when the
    consumer is cancelled) or `disconnected()` turns true."""
    loop = asyncio.get_running_loop()
    checked = loop.time()
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), DISCONNECT_POLL_S)
            except TimeoutError:
                item = None
            if disconnected is not None and loop.time() - checked >= DISCONNECT_POLL_S:
                checked = loop.time()
                if await disconnected():
                    log.info("client went away: generation stopped")
                    return
            if item is None:
                continue
            yield item
            if isinstance(item, str):
                return
    finally:
        row.cancel.set()


class _Pieces:
    """Incremental detokenisation: the new text of each token once it decodes to whole characters."""

    def __init__(self, decode: Callable[[list[int]], str]) -> None:
        self.decode, self.tokens, self.sent = decode, [], 0

    def add(self, token: int) -> str:
        self.tokens.append(token)
        text = self.decode(self.tokens)
        if text.endswith("\ufffd"):
            return ""
        piece, self.sent = text[self.sent :], len(text)
        return piece


def make_app(playground: Playground) -> FastAPI:
    """The ASGI app (FastAPI) of a playground; the engine runs while the app's lifespan does."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        playground.start()
        try:
            yield
        finally:
            await run_in_threadpool(playground.stop)

    app = FastAPI(title="gitllm serve", description="OpenAI-compatible chat completions for a gitllm model",
                  lifespan=lifespan)
    name = playground.model_name

    def error(err: ApiError, close: bool = False) -> JSONResponse:
        return JSONResponse(err.body(), err.status, headers={"Connection": "close"} if close else None)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        return error(err)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        if err.status_code == 404:
            return error(ApiError(404, f"no route {request.method} {request.url.path}", "not_found"))
        prefix = "invalid request: " if err.status_code == 400 else ""
        return error(ApiError(err.status_code, f"{prefix}{err.detail}", "http_error"))

    @app.exception_handler(Busy)
    async def busy(request: Request, err: Busy) -> JSONResponse:
        return error(ApiError(503, f"the model is busy ({err}); retry later", "busy"))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in err.errors()[:4]]
        if "json" not in request.headers.get("content-type", "json"):
            problems.append("send the body as JSON with 'Content-Type: application/json'")
        return error(ApiError(400, "invalid request: " + "; ".join(problems), "invalid_field"))

    @app.exception_handler(Exception)
    async def failed(request: Request, err: Exception) -> JSONResponse:
        log.error("request %s %s failed: %s (traceback follows)", request.method, request.url.path, type(err).__name__)
        return error(ApiError(500, "the server failed on this request (details are in its log)", "internal"))

    async def authorised(request: Request) -> None:
        key = playground.limits.api_key
        given = request.headers.get("authorization", "")
        if key is not None and not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
            raise ApiError(401, "a valid API key is needed: send 'Authorization: Bearer <key>'", "invalid_api_key")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(resources.files("gitllm.play").joinpath("page.html").read_text(encoding="utf-8"))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "waiting": playground.engine.waiting}

    @app.get("/v1/models", dependencies=[Depends(authorised)])
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "gitllm"}]}

    @app.post("/v1/chat/completions", dependencies=[Depends(authorised)])
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
        chat, prompt, prompt_tokens = await run_in_threadpool(playground.prepare, body)
        row, queue = playground.submit(chat, prompt)
        if chat.stream:
            return StreamingResponse(_sse(playground, row, queue, chat, prompt_tokens),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        finish = None
        async for item in _events(row, queue, request.is_disconnected):
            finish = item if isinstance(item, str) else None
        if finish is None:  # the client left
            return JSONResponse({}, 499)
        if finish == "error":
            raise RuntimeError("decoding failed") from row.error
        answer = playground.decode(row.tokens).strip()
        return completion_body(name, answer, len(row.tokens), prompt_tokens, finish)

    @app.post("/v1/visual-words", dependencies=[Depends(authorised)])
    async def visual_words(body: VisualWordsRequest) -> dict[str, Any]:
        image = await run_in_threadpool(decode_image, body.image, playground.limits.max_pixels)
        return await run_in_threadpool(playground.visual_words, image, body.metric)

    return BodyLimits(app, playground.limits.max_body_bytes, playground.limits.timeout_s)


async def _sse(playground: Playground, row: Row, queue: asyncio.Queue, chat: ChatRequest,
               prompt_tokens: int) -> AsyncIterator[bytes]:
    """Server-sent events: the role, text pieces as generated, the finish reason (or an error event),
    the usage when asked, then `[DONE]`."""
    name, completion_id = playground.model_name, new_completion_id()
    pieces = _Pieces(playground.decode)

    def event(body: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    yield event(chunk_body(name, completion_id, {"role": "assistant"}, None))
    async for item in _events(row, queue):
        if isinstance(item, int):
            if piece := pieces.add(item):
                yield event(chunk_body(name, completion_id, {"content": piece}, None))
        elif item == "error":
            log.error("streamed generation failed", exc_info=row.error)
            yield event(ApiError(500, "the server failed while generating (details are in its log)",
                                 "internal").body())
        else:
            yield event(chunk_body(name, completion_id, {}, item))
    if chat.include_usage:
        yield event(chunk_body(name, completion_id, {}, None, usage_body(prompt_tokens, len(row.tokens))))
    yield b"data: [DONE]\n\n"


def make_server(playground: Playground, host: str = "127.0.0.1", port: int = 8000) -> uvicorn.Server:
    """A uvicorn server for the playground (port 0: any free port); `run()` it, or see `serve_in_thread`."""
    if host not in LOOPBACK and playground.limits.api_key is None:
        log.warning("serving on %s, reachable beyond this machine, without an API key (--api-key or $%s)",
                    host, API_KEY_ENV)
    config = uvicorn.Config(make_app(playground), host=host, port=port, http=HeadDeadline, backlog=2048,
                            timeout_keep_alive=max(1, round(playground.limits.timeout_s)),
                            timeout_graceful_shutdown=5, log_level="warning", lifespan="on")
    return uvicorn.Server(config)


def serve_in_thread(server: uvicorn.Server) -> tuple[threading.Thread, int]:
    """Start `server` in a daemon thread; returns (thread, bound port) once it accepts connections.
    Stop it with `server.should_exit = True; thread.join()`."""
    thread = threading.Thread(target=server.run, daemon=True, name="gitllm-serve")
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server stopped while starting (see its log)")
        threading.Event().wait(0.02)
    return thread, server.servers[0].sockets[0].getsockname()[1]
