"""Continuous batching (DecodeBatch over a SlotCache): rows join and leave between steps, answers unchanged."""

from __future__ import annotations

import pytest
import torch

from gitllm.data import Encoder
from gitllm.play.decode_batch import DecodeBatch, Row
from gitllm.infer.generate import GenerationSettings, generate_batch, prompt_batch, question_sample
from gitllm.play.slot_cache import SlotCache
from test_play_helpers import image, one_torch_thread  # noqa: F401 (fixture)
from tiny_models import tiny_model, tiny_processor

QUESTIONS = ["w1 w2", "w3 w4 w5 w6 w7", "w9", "w10 w11 w12", "w20 w21", "w30 w31 w32 w33 w34 w35 w36"]


def run_staggered(batch: DecodeBatch, rows: list[Row], per_step: int = 2) -> None:
    """Admit `per_step` rows whenever there is room, stepping in between, until every row has finished."""
    pending = list(rows)
    while pending or batch.members:
        count = min(batch.free, per_step, len(pending))
        if count:
            batch.admit(pending[:count])
            pending = pending[count:]
        batch.step()


@pytest.mark.parametrize("llm, attn, config", [
    ("llama", "eager", {}), ("llama", "sdpa", {}), ("gpt2", "eager", {}), ("opt", "eager", {}), ("mpt", "eager", {}),
    ("gpt_neox", "eager", {}), ("gemma", "eager", {}),
    ("opt", "eager", {"image_positions": False})])
def test_greedy_rows_joining_and_leaving_equal_model_generate_alone(llm, attn, config) -> None:
    model, processor = tiny_model(llm=llm, attn=attn, **config), tiny_processor()
    encoder = Encoder(processor.tokenizer, processor.image_processor)
    samples = [question_sample(image(i), QUESTIONS[i % 6]) for i in range(10)]
    settings = [GenerationSettings(max_new_tokens=2 + i % 7) for i in range(10)]
    alone = [generate_batch(model, processor.tokenizer, prompt_batch(processor, [s], "git-llm"), g)[0]
             for s, g in zip(samples, settings)]
    rows = [Row(encoder.prompt(s), g) for s, g in zip(samples, settings)]
    run_staggered(DecodeBatch(model, processor.tokenizer, max_rows=4), rows)
    assert [row.tokens for row in rows] == alone
    assert all(row.finish == "length" for row in rows)


def test_long_prompts_prefilled_in_chunks_between_decode_steps_give_the_same_answers() -> None:
    """Prefill 3 text positions per step (after the whole image block) while other rows decode."""
    model, processor = tiny_model(), tiny_processor()
    encoder = Encoder(processor.tokenizer, processor.image_processor)
    questions = [" ".join(f"w{(7 * i + j) % 90 + 4}" for j in range(5 + 6 * i)) for i in range(6)]
    samples = [question_sample(image(i), q) for i, q in enumerate(questions)]
    settings = GenerationSettings(max_new_tokens=5)
    alone = [generate_batch(model, processor.tokenizer, prompt_batch(processor, [s], "git-llm"), settings)[0]
             for s in samples]
    batch = DecodeBatch(model, processor.tokenizer, max_rows=3, prefill_chunk=3)
    rows = [Row(encoder.prompt(s), settings) for s in samples]
    batch.admit(rows[:1])
    batch.step()
    assert batch.prefilling and not batch.rows, "the first chunk holds the image block, not the whole prompt"
    run_staggered(batch, rows[1:], per_step=1)
    run_staggered(batch, rows[:0])
    assert [row.tokens for row in rows] == alone


def test_eos_ends_a_row_and_sampling_rows_mix_with_greedy_ones() -> None:
    model, processor = tiny_model(), tiny_processor()
    encoder = Encoder(processor.tokenizer, processor.image_processor)
    samples = [question_sample(image(i), QUESTIONS[i % 6]) for i in range(6)]
    greedy = GenerationSettings(max_new_tokens=12)
    alone = [generate_batch(model, processor.tokenizer, prompt_batch(processor, [s], "git-llm"), greedy)[0]
             for s in samples]
    # Make the second token of the first answer the EOS: that row must stop there, as generate would.
    eos = alone[0][1]
    processor.tokenizer.eos_token = processor.tokenizer.convert_ids_to_tokens(eos)
    alone = [generate_batch(model, processor.tokenizer, prompt_batch(processor, [s], "git-llm"), greedy)[0]
             for s in samples]
    sampling = GenerationSettings(max_new_tokens=12, temperature=1.5, top_p=0.9)
    rows = [Row(encoder.prompt(s), sampling if i % 2 else greedy,
                generator=torch.Generator().manual_seed(i)) for i, s in enumerate(samples)]
    run_staggered(DecodeBatch(model, processor.tokenizer, max_rows=3), rows)
    assert rows[0].tokens == alone[0] == [alone[0][0]] and rows[0].finish == "stop"
    assert [rows[i].tokens for i in (0, 2, 4)] == [alone[i] for i in (0, 2, 4)]
    again = [Row(encoder.prompt(samples[i]), sampling, generator=torch.Generator().manual_seed(i)) for i in (1, 3, 5)]
    run_staggered(DecodeBatch(model, processor.tokenizer, max_rows=1), again)
    assert [r.tokens for r in again] == [rows[i].tokens for i in (1, 3, 5)], "a seeded sample repeats, batched or not"
    assert any(r.tokens != alone[i] for r, i in zip(again, (1, 3, 5))), "sampling should differ from greedy"


def test_cancelled_rows_leave_and_the_cache_is_trimmed() -> None:
    model, processor = tiny_model(), tiny_processor()
    encoder = Encoder(processor.tokenizer, processor.image_processor)
    batch = DecodeBatch(model, processor.tokenizer, max_rows=4)
    long_question = " ".join(f"w{i}" for i in range(10, 50))  # longer than the image + short prompt
    long_row = Row(encoder.prompt(question_sample(image(0), long_question)),
                   GenerationSettings(max_new_tokens=40))
    short = Row(encoder.prompt(question_sample(image(1), "w1")), GenerationSettings(max_new_tokens=40))
    finished: list[str] = []
    long_row.on_finish = finished.append
    batch.admit([long_row, short])
    batch.step()
    long_row.cancel.set()
    batch.drop_cancelled()
    assert finished == ["cancelled"] and batch.rows == [short]
    assert batch.cache.length == short.length, "the prefix only the long row owned (over half) is trimmed off"
    batch.step()
    assert batch.cache.rows == 1 and len(short.tokens) == 2


def test_sliding_window_llms_are_not_batchable() -> None:
    assert SlotCache.supports(tiny_model().language_model.config)
    assert not SlotCache.supports(tiny_model(llm="mistral").language_model.config)
    with pytest.raises(ValueError, match="one request at a time"):
        DecodeBatch(tiny_model(llm="mistral"), tiny_processor().tokenizer, 2)
