"""`Engine`: the one thread that runs the model for the server. Requests queue for it; rows are decoded together.

Between two decode steps the engine admits waiting rows into the running batch (continuous batching, up to
`max_batch` rows) or runs one waiting call alone (visual words, beam search, or every request of an LLM
whose cache cannot join a batch). At most `max_waiting` requests wait: beyond that `submit` raises Busy.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import torch
from transformers import StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from gitllm.data import Collator

from gitllm.model import GitLLMForCausalLM
from gitllm.play.decode_batch import DecodeBatch, Row
from gitllm.play.loader import compute_in
from gitllm.infer.generate import Cancelled, generate_batch
from gitllm.play.slot_cache import SlotCache

log = logging.getLogger("gitllm.serve")


class Busy(Exception):
    """Too many requests are waiting for the model."""


class Engine:
    """Owns the model between `start` and `stop`; every other thread talks to it through `submit`/`call`."""

    def __init__(self, model: GitLLMForCausalLM, tokenizer: Any, max_batch: int = 8, max_waiting: int = 64,
                 prefill_chunk: int = 512, autocast: str | None = None) -> None:
        """`autocast`: the dtype the model computes in with its float32 weights (`compute_in`)."""
        self.model, self.tokenizer, self.autocast = model, tokenizer, autocast
        self.max_batch, self.max_waiting, self.prefill_chunk = max_batch, max_waiting, prefill_chunk
        self.batching = SlotCache.supports(model.language_model.config)
        self.batch = DecodeBatch(model, tokenizer, max_batch, prefill_chunk) if self.batching else None
        self._waiting: deque[Row | tuple[Callable[[], Any], Future]] = deque()
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="gitllm-engine", daemon=True)

    def start(self) -> "Engine":
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def submit(self, row: Row) -> None:
        """Queue `row` for decoding (its callbacks then run on the engine thread); Busy when the queue is full.
        Beam search, and any row of an LLM that cannot batch, is decoded alone by `model.generate`."""
        if row.settings.num_beams > 1 or not self.batching:
            self._queue((lambda: self._alone(row), Future()))
        else:
            self._queue(row)

    def call(self, function: Callable[[], Any]) -> Future:
        """Run `function()` on the engine thread, alone between decode steps; Busy when the queue is full."""
        future: Future = Future()
        self._queue((function, future))
        return future

    def _queue(self, item: Row | tuple[Callable[[], Any], Future]) -> None:
        with self._wake:
            if len(self._waiting) >= self.max_waiting:
                raise Busy(f"{len(self._waiting)} requests are already waiting for the model")
            self._waiting.append(item)
            self._wake.notify()

    def _run(self) -> None:
        with torch.inference_mode(), compute_in(self.autocast):
            while True:
                with self._wake:
                    while not self._stopped and not self._waiting and not (self.batch and self.batch.members):
                        self._wake.wait()
                    if self._stopped:
                        return
                    admitted, call = self._take()
                if call is not None:
                    self._call(*call)
                if admitted:
                    self._guarded(lambda: self.batch.admit(admitted), admitted)
                if self.batch is not None and self.batch.members:
                    self.batch.drop_cancelled()
                    self._guarded(self.batch.step)

    def _take(self) -> tuple[list[Row], tuple[Callable[[], Any], Future] | None]:
        """From the queue head: one call, or the rows that fit the batch (cancelled ones are dropped)."""
        admitted: list[Row] = []
        while self._waiting:
            head = self._waiting[0]
            if not isinstance(head, Row):
                if admitted:
                    break
                return [], self._waiting.popleft()
            if len(admitted) >= self.batch.free:
                break
            self._waiting.popleft()
            if head.cancel.is_set():
                head.finish = "cancelled"
                head.on_finish(head.finish)
            else:
                admitted.append(head)
        return admitted, None

    def _call(self, function: Callable[[], Any], future: Future) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(function())
        except BaseException as err:  # noqa: BLE001 — the caller gets it through the future
            future.set_exception(err)

    def _guarded(self, work: Callable[[], None], admitted: tuple[Row, ...] | list[Row] = ()) -> None:
        """Run batch work; on an exception, every row in the batch (and `admitted`) fails and the batch
        starts afresh."""
        rows = [*self.batch.members, *admitted]
        try:
            work()
        except Exception as err:  # noqa: BLE001 — one failure must not stop the engine
            log.exception("decoding failed for %d rows", len(rows))
            self.batch = DecodeBatch(self.model, self.tokenizer, self.max_batch, self.prefill_chunk)
            for row in rows:
                if row.finish is None:
                    row.error, row.finish = err, "error"
                    row.on_finish(row.finish)

    def _alone(self, row: Row) -> None:
        """Decode one row with `model.generate` (beam search, or an LLM that cannot batch)."""
        streamer = None if row.settings.num_beams > 1 else _RowStreamer(row, self.tokenizer.eos_token_id)
        try:
            batch = Collator.for_tokenizer(self.tokenizer)([row.prompt])
            tokens = generate_batch(self.model, self.tokenizer, batch, row.settings, streamer=streamer,
                                    stopping_criteria=StoppingCriteriaList([Cancelled(row.cancel)]))[0]
        except Exception as err:  # noqa: BLE001
            log.exception("decoding failed")
            row.error, row.finish = err, "error"
        else:
            if streamer is None:
                for token in tokens:
                    row.tokens.append(token)
                    row.on_token(token)
            row.finish = ("cancelled" if row.cancel.is_set()
                          else "length" if len(tokens) >= row.settings.max_new_tokens else "stop")
        row.on_finish(row.finish)


class _RowStreamer(BaseStreamer):
    """Hands each new token of a one-row `generate` to the row (skips the prompt and EOS)."""

    def __init__(self, row: Row, eos: int | None) -> None:
        self.row, self.eos, self.prompt_seen, self.ended = row, eos, False, False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.ended = self.ended or token == self.eos
            if not self.ended:
                self.row.tokens.append(token)
                self.row.on_token(token)

    def end(self) -> None:
        pass
