"""Collator (dynamic left padding), length grouping, and the torch datasets feeding a DataLoader."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_data_fixtures import clip_processor, good_m3it, tokenizer
from torch.utils.data import DataLoader

from gitllm.data import (
    Collator, EncodedDataset, EncodedStream, Encoder, LengthGroupedSampler, group_by_length, read,
)
from gitllm.data.encode import IGNORE_INDEX


def rows(lengths: list[int]) -> list[dict[str, torch.Tensor]]:
    return [{"input_ids": torch.arange(1, n + 1), "labels": torch.arange(1, n + 1) * 10,
             "pixel_values": torch.full((3, 4, 4), float(n))} for n in lengths]


@pytest.mark.parametrize("side", ["left", "right"])
def test_dynamic_padding(side: str) -> None:
    batch = Collator(pad_token_id=0, padding_side=side)(rows([2, 4]))  # type: ignore[arg-type]
    assert {k: tuple(v.shape) for k, v in batch.items()} == {
        "pixel_values": (2, 3, 4, 4), "input_ids": (2, 4), "attention_mask": (2, 4), "labels": (2, 4)}
    assert batch["pixel_values"].dtype == torch.float32
    assert all(batch[k].dtype == torch.long for k in ("input_ids", "attention_mask", "labels"))
    short = [0, 0, 1, 2] if side == "left" else [1, 2, 0, 0]
    assert batch["input_ids"][0].tolist() == short and batch["input_ids"][1].tolist() == [1, 2, 3, 4]
    assert batch["attention_mask"][0].tolist() == [int(t != 0) for t in short]
    assert batch["labels"][0].tolist() == [IGNORE_INDEX if t == 0 else t * 10 for t in short]


def test_pad_token_falls_back_to_eos() -> None:
    assert Collator.for_tokenizer(tokenizer("gpt2")).pad_token_id == tokenizer("gpt2").eos_token_id
    assert Collator.for_tokenizer(tokenizer("llama")).pad_token_id == tokenizer("llama").pad_token_id


def test_length_grouped_sampler_groups_similar_lengths() -> None:
    lengths = [1, 100, 2, 99, 3, 98, 4, 97] * 4
    sampler = LengthGroupedSampler(lengths, batch_size=4, window_batches=8, seed=1)
    order = list(sampler)
    assert sorted(order) == list(range(len(lengths)))
    batches = [[lengths[i] for i in order[k : k + 4]] for k in range(0, len(order), 4)]
    assert all(max(b) - min(b) <= 3 for b in batches)
    sampler.set_epoch(1)
    assert list(sampler) != order and sorted(sampler) == sorted(order)


def test_group_by_length_streams_window_by_window() -> None:
    stream = iter([5, 1, 6, 2, 7, 3, 8, 4, 9])
    out = list(group_by_length(stream, lambda n: n, batch_size=2, window_batches=2))
    assert sorted(out[:4]) == [1, 2, 5, 6] and sorted(out[4:8]) == [3, 4, 7, 8] and out[8:] == [9]
    assert {tuple(sorted(out[i : i + 2])) for i in (0, 2)} == {(1, 2), (5, 6)}


def test_stream_and_map_datasets_through_a_dataloader(tmp_path: Path) -> None:
    path = good_m3it(tmp_path / "coco" / "train.jsonl")
    tok = tokenizer("llama")
    encoder, collate = Encoder(tok, clip_processor()), Collator.for_tokenizer(tok)
    [batch] = DataLoader(EncodedStream(str(path), encoder, group_batch_size=3), batch_size=3, collate_fn=collate)
    assert batch["pixel_values"].shape == (3, 3, 32, 32) and batch["input_ids"].shape[0] == 3
    samples = list(read(str(path)))
    dataset = EncodedDataset(samples, encoder)
    sampler = LengthGroupedSampler(dataset.approx_lengths(), batch_size=2)
    batches = list(DataLoader(dataset, batch_size=2, sampler=sampler, collate_fn=collate))
    assert [len(b["input_ids"]) for b in batches] == [2, 1]
    # DataLoader workers split the stream: every row exactly once.
    loader = DataLoader(EncodedStream(str(path), encoder), batch_size=1, num_workers=2, collate_fn=collate)
    seen = sorted(round(b["pixel_values"].sum().item(), 2) for b in loader)  # one photo per row
    assert seen == sorted(round(encoder(s)["pixel_values"].sum().item(), 2) for s in samples) and len(set(seen)) == 3
    # Padding never trained: every padded position is -100.
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()
