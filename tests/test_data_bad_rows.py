"""Every bad-input kind: a clear error naming the row and reason, or under skip_bad a counted skip + summary."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_data_fixtures import b64, clip_processor, encoded, m3it_row, photo, tokenizer, write_jsonl

from gitllm.data import BadRowError, Encoder, EncodedStream, RowPolicy, read

LONG = " ".join(["a cat sits on a mat"] * 40)
M3IT_BAD = {  # reason -> a bad M3IT row (line 2 of its file; line 1 is good)
    "bad_base64": m3it_row(image_base64_str=["this is not base64!"]),
    "truncated_image": m3it_row(image_base64_str=[b64(encoded(photo())[:700])]),
    "not_an_image": m3it_row(image_base64_str=[b64(b"GIF? no, just text")]),
    "empty_image": m3it_row(image_base64_str=[""]),
    "missing_field": {k: v for k, v in m3it_row().items() if k != "outputs"},
    "empty_answer": m3it_row(outputs="   "),
    "too_long": m3it_row(outputs=LONG),
    "bad_json": '{"instruction": "cut off',
}


def encoder() -> Encoder:
    return Encoder(tokenizer("gpt2"), clip_processor(), max_length=64)


@pytest.mark.parametrize("reason", sorted(M3IT_BAD))
def test_m3it_bad_row_raises_naming_row_and_reason(tmp_path: Path, reason: str) -> None:
    path = write_jsonl(tmp_path / "coco" / "train.jsonl", [m3it_row(), M3IT_BAD[reason]])
    stream = iter(EncodedStream(str(path), encoder()))
    assert next(stream)["input_ids"].dim() == 1
    with pytest.raises(BadRowError) as caught:
        next(stream)
    assert caught.value.reason == reason
    assert str(caught.value).startswith(f"{path} row coco:2: {reason}: ")


def file_rows(tmp_path: Path) -> Path:
    photo().save(tmp_path / "ok.png")
    (tmp_path / "zero.png").write_bytes(b"")
    table = "image,caption\nok.png,a cat\nzero.png,a cat\ngone.png,a cat\n"
    (tmp_path / "data.csv").write_text(table)
    return tmp_path / "data.csv"


def test_file_kinds_raise_naming_row(tmp_path: Path) -> None:
    path = file_rows(tmp_path)
    samples = read(str(path))
    assert next(samples).image.size == photo().size
    with pytest.raises(BadRowError, match=rf"^{path} row 3: empty_image: zero-byte file: .*zero.png"):
        next(samples).load_image()
    with pytest.raises(BadRowError, match=rf"^{path} row 4: image_not_found: no such file: .*gone.png"):
        next(samples).load_image()


def test_llava_missing_image_and_bad_conversation(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "l.jsonl", [
        {"id": "x", "image": "nowhere.jpg", "conversations": [{"from": "human", "value": "hi"},
                                                              {"from": "gpt", "value": "hello"}]},
        {"id": "y", "image": "nowhere.jpg", "conversations": [{"from": "gpt", "value": "hello"}]},
        {"id": "z", "conversations": [{"from": "human", "value": "text only"}, {"from": "gpt", "value": "ok"}]},
    ])
    policy = RowPolicy(skip_bad=True)
    [sample] = read(str(path), policy=policy)
    with pytest.raises(BadRowError, match=r"row 1 \(id x\): image_not_found"):
        sample.load_image()
    assert dict(policy.rejected) == {"bad_conversation": 1, "missing_field": 1}
    assert "row 2 (id y): bad_conversation" in policy.summary() and "row 3 (id z): missing_field" in policy.summary()


def test_skip_bad_counts_every_kind_and_prints_a_summary(tmp_path: Path, capsys) -> None:
    rows = [m3it_row()] + [M3IT_BAD[r] for r in sorted(M3IT_BAD)] + [m3it_row("astronaut.png")]
    path = write_jsonl(tmp_path / "coco" / "train.jsonl", rows)
    policy = RowPolicy(skip_bad=True)
    good = list(EncodedStream(str(path), encoder(), policy=policy))
    assert len(good) == 2
    assert dict(policy.rejected) == dict.fromkeys(M3IT_BAD, 1)
    err = capsys.readouterr().err
    assert "skipped bad rows" in err and f"rows rejected: {len(M3IT_BAD)}" in err
    assert "bad_base64: 1" in err and f"e.g. {path} row coco:" in err


def test_skip_bad_covers_file_kinds(tmp_path: Path) -> None:
    policy = RowPolicy(skip_bad=True)
    good = list(EncodedStream(str(file_rows(tmp_path)), encoder(), policy=policy))
    assert len(good) == 1 and dict(policy.rejected) == {"empty_image": 1, "image_not_found": 1}
