"""Continuous batching: sequences join a running batch between decode steps and leave as soon as they finish.

New sequences are prefilled together as one left-padded batch as `GitLLMForCausalLM.generate` does (image
encoded once, the prompt but its last token run under the GIT mask into a KV cache), `prefill_chunk` text
positions per step after the image block, so that a long prompt holds the running rows for one chunk at a
time; then their cache rows join the running `SlotCache`. Each `step` feeds every row its next token (the
prompt's last one first), so a greedy row picks the same tokens as `model.generate` for that prompt alone. Sampling rows
apply temperature, then top-p, as HF generate does, each with its own random generator.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import DynamicCache, TopPLogitsWarper

from gitllm.data import Collator
from gitllm.model import GitLLMForCausalLM
from gitllm.model.modeling import PackedInputs
from gitllm.model.head_layout import DecodeHead
from gitllm.infer.generate import GenerationSettings
from gitllm.play.slot_cache import SlotCache


def _ignore(*args: Any) -> None:
    return None


@dataclass(eq=False)
class Row:
    """One prompt in the batch. prompt: `Encoder.prompt` output (input_ids (T,), pixel_values (3, H, W), or
    (F, 3, H, W) for several images);
    tokens: the ids generated so far (EOS excluded); finish: None while running, then 'stop' (EOS),
    'length' (max_new_tokens or the LLM's last position), 'cancelled' or 'error' (then `error`); on_token / on_finish: called
    from the decoding thread as that happens; cancel: set from any thread to stop at the next step."""

    prompt: dict[str, torch.Tensor]
    settings: GenerationSettings
    on_token: Callable[[int], None] = _ignore
    on_finish: Callable[[str], None] = _ignore
    cancel: threading.Event = field(default_factory=threading.Event)
    generator: torch.Generator | None = None
    tokens: list[int] = field(default_factory=list)
    finish: str | None = None
    error: BaseException | None = None
    length: int = 0  # positions of this row in the cache
    position: int = 0  # the position id of its next input (image tokens may hold none: `image_positions`)


@dataclass(eq=False)
class _Prefill:
    """Rows being prefilled together: their packed inputs and a cache holding the first `done` positions."""

    rows: list[Row]
    packed: PackedInputs
    cache: DynamicCache
    done: int = 0


class DecodeBatch:
    """The running batch of one model (used from one thread): `admit` new sequences, `step` them all."""

    def __init__(self, model: GitLLMForCausalLM, tokenizer: Any, max_rows: int, prefill_chunk: int = 512) -> None:
        self.model, self.lm = model, model.language_model
        if not SlotCache.supports(self.lm.config):
            raise ValueError(f"{type(self.lm).__name__} has non-full-attention cache layers: it cannot join a "
                             "continuous batch (serve it one request at a time)")
        self.max_rows, self.prefill_chunk = max_rows, prefill_chunk
        self.decode_head = DecodeHead()  # a CPU float32 head decodes from a column-major copy
        self.prefilling: list[_Prefill] = []
        self.cache = SlotCache(self.lm.config, max_rows)
        self.collate = Collator.for_tokenizer(tokenizer)
        self.eos = {tokenizer.eos_token_id}
        self.rows: list[Row] = []
        self.next_embeds: list[torch.Tensor] = []  # (D,) per row: the input of its next step

    @property
    def members(self) -> list[Row]:
        """Every row held: decoding, then being prefilled."""
        return [*self.rows, *(row for prefill in self.prefilling for row in prefill.rows)]

    @property
    def free(self) -> int:
        return self.max_rows - len(self.members)

    @torch.inference_mode()
    def admit(self, sequences: Sequence[Row]) -> None:
        """Start prefilling `sequences` (at most `free`), grouped by image size and frame count (images are
        encoded here);
        the next steps prefill them and they join the batch."""
        assert len(sequences) <= self.free, (len(sequences), self.free)
        groups: dict[tuple[int, ...], list[Row]] = {}
        for sequence in sequences:
            groups.setdefault(tuple(sequence.prompt["pixel_values"].shape), []).append(sequence)
        for group in groups.values():
            batch = self.collate([sequence.prompt for sequence in group])
            packed = self.model.pack_inputs(batch["input_ids"], batch["attention_mask"], batch["pixel_values"],
                                            frame_mask=batch.get("frame_mask"))
            self.prefilling.append(_Prefill(group, packed, DynamicCache(config=self.lm.config)))

    def _prefill_chunk(self, prefill: _Prefill) -> None:
        """Run the next chunk of a prefill (the first one covers the whole image block); a finished prefill
        joins the batch."""
        packed, start = prefill.packed, prefill.done
        total = packed.inputs_embeds.shape[1] - 1  # the last prompt token is the first decode step's input
        end = min(total, start + self.prefill_chunk)
        if start == 0:  # Contract: the bidirectional image block is never split.
            end = max(end, int((packed.block_ids == 0).any(0).nonzero().max()) + 1)
        self.lm(**self.model.lm_adapter.lm_inputs(
            self.lm, packed.inputs_embeds[:, start:end], packed.attention_mask[:, :end],
            packed.position_ids[:, start:end], packed.block_ids[:, :end], cache=prefill.cache), logits_to_keep=1)
        prefill.done = end
        if end < total:
            return
        self.prefilling.remove(prefill)
        self.cache.insert(prefill.cache)
        for row, sequence in enumerate(prefill.rows):
            # Contract: left padding, so the last position is the prompt's last real token.
            sequence.length = int(packed.attention_mask[row, :-1].sum())
            sequence.position = int(packed.position_ids[row, -1])
            self.rows.append(sequence)
            self.next_embeds.append(packed.inputs_embeds[row, -1])

    @torch.inference_mode()
    def step(self) -> None:
        """One prefill chunk (when a prefill waits), then one token for every decoding row; finished rows
        leave (their `on_finish` called)."""
        with self.decode_head.active(self.lm):
            if self.prefilling:
                self._prefill_chunk(self.prefilling[0])
            if self.rows:
                self._decode()

    def _decode(self) -> None:
        length = self.cache.length
        lengths = torch.tensor([sequence.length for sequence in self.rows])
        mask = (torch.arange(length + 1)[None] >= (length - lengths)[:, None]).long()
        positions = torch.tensor([[sequence.position] for sequence in self.rows])
        inputs = self.model.lm_adapter.lm_inputs(self.lm, torch.stack(self.next_embeds)[:, None], mask, positions,
                                                 torch.full_like(positions, -1), cache=self.cache)
        logits = self.lm(**inputs, logits_to_keep=1).logits[:, -1].float()
        tokens = self._choose(logits)
        self.next_embeds = list(self.lm.get_input_embeddings()(torch.tensor(tokens)))
        limit = self.model.lm_adapter.max_positions
        for sequence, token in zip(self.rows, tokens):
            sequence.length += 1
            sequence.position += 1
            if token in self.eos:
                sequence.finish = "stop"
            else:
                sequence.tokens.append(token)
                sequence.on_token(token)
                full = len(sequence.tokens) >= sequence.settings.max_new_tokens
                if full or (limit is not None and sequence.position >= limit):
                    sequence.finish = "length"
        self._leave([row for row, sequence in enumerate(self.rows) if sequence.finish])

    @torch.inference_mode()
    def drop_cancelled(self) -> None:
        """Drop rows whose `cancel` is set without decoding them again."""
        for sequence in self.rows:
            if sequence.cancel.is_set():
                sequence.finish = "cancelled"
        self._leave([row for row, sequence in enumerate(self.rows) if sequence.finish])

    def _choose(self, logits: torch.Tensor) -> list[int]:
        """logits (B, V) float -> next token per row: argmax, or a sample under temperature and top-p."""
        tokens = logits.argmax(-1)
        for row, sequence in enumerate(self.rows):
            settings = sequence.settings
            if settings.temperature > 0:
                scores = logits[row : row + 1] / settings.temperature
                if settings.top_p < 1.0:
                    scores = TopPLogitsWarper(settings.top_p)(None, scores)
                probs = scores.softmax(-1)
                tokens[row] = torch.multinomial(probs, 1, generator=sequence.generator)[0, 0]
        return tokens.tolist()

    def _leave(self, rows: list[int]) -> None:
        """Remove `rows` from the cache and the batch (mirroring the cache's moves), then trim the cache
        prefix no remaining row owns once it is at least half of the cache."""
        for row in sorted(rows, reverse=True):
            sequence = self.rows[row]
            self.cache.remove([row])
            self.rows[row], self.next_embeds[row] = self.rows[-1], self.next_embeds[-1]
            self.rows.pop()
            self.next_embeds.pop()
            sequence.on_finish(sequence.finish)
        if self.rows:
            unused = self.cache.length - max(sequence.length for sequence in self.rows)
            if unused and 2 * unused >= self.cache.length:
                self.cache.trim(unused)
