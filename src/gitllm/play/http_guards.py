"""HTTP guards for `gitllm serve` against slow, idle and oversized clients: an ASGI body reader with a size
limit and a deadline, and uvicorn's h11 protocol with a deadline for the request head."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from gitllm.play.api import ApiError

DRAIN_FACTOR = 4  # a body up to this many times the limit is read (and dropped) before its 413


class BodyLimits:
    """ASGI middleware: a request body is read whole before the app sees it, refused with 413 when its
    Content-Length (or what arrives) is over `max_bytes`, and with 408 when it is not complete `timeout_s`
    after the request head; both answers close the connection. A declared body up to DRAIN_FACTOR times the
    limit is read first (so the client reads its 413 instead of a reset), a larger one is not read at all."""

    def __init__(self, app: Any, max_bytes: int, timeout_s: float) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            if int(length) <= DRAIN_FACTOR * self.max_bytes:  # read it, so the client is not reset mid-send
                with contextlib.suppress(TimeoutError, _TooLarge):
                    await asyncio.wait_for(self._read(receive, DRAIN_FACTOR * self.max_bytes), self.timeout_s)
            return await self._refuse(send, 413, f"request body of {_mb(int(length))} is over the limit of "
                                                 f"{_mb(self.max_bytes)}", "body_too_large")
        try:
            body = await asyncio.wait_for(self._read(receive, self.max_bytes), self.timeout_s)
        except TimeoutError:
            return await self._refuse(send, 408, f"the request body did not arrive within {self.timeout_s:g} s",
                                      "request_timeout")
        except _TooLarge:
            return await self._refuse(send, 413, f"request body is over the limit of {_mb(self.max_bytes)}",
                                      "body_too_large")
        if body is None:  # the client went away
            return None
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _read(receive: Callable, most: int) -> bytes | None:
        """The whole body (None: the client left); _TooLarge past `most` bytes."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > most:
                raise _TooLarge
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    async def _refuse(send: Callable, status: int, message: str, code: str) -> None:
        data = json.dumps(ApiError(status, message, code).body()).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": data})


class _TooLarge(Exception):
    pass


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


class HeadDeadline(H11Protocol):
    """uvicorn's h11 protocol, plus: a connection that has not sent a whole new request head
    `timeout_keep_alive` seconds after it opened, or after its last response, is closed (uvicorn itself only
    closes connections that send nothing at all after a response)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def _arm(self) -> None:
        cycle = self.cycle
        self.loop.call_later(self.timeout_keep_alive, self._drop_if_no_new_request, cycle)

    def _drop_if_no_new_request(self, cycle: object) -> None:
        if self.cycle is cycle and not self.transport.is_closing():
            self.transport.close()
