"""`gitllm data check`: counts, reasons, exit codes, with and without a tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_data_fixtures import clip_processor, m3it_row, tokenizer, write_jsonl

from gitllm.cli import main


def check(*argv: str) -> int:
    return main(["data", "check", *argv])


@pytest.fixture
def m3it(tmp_path: Path) -> Path:
    rows = [m3it_row(), m3it_row(image_base64_str=["@@@"]), m3it_row(outputs=""), m3it_row("coffee.png"),
            m3it_row(outputs=" ".join(["a cat sits on a mat"] * 40))]
    return write_jsonl(tmp_path / "coco" / "train.jsonl", rows)


def test_check_counts_and_fails_on_rejects(m3it: Path, capsys) -> None:
    assert check(str(m3it)) == 1
    out = capsys.readouterr().out
    assert "format m3it" in out and "image decode + fields only" in out
    assert "rows read: 5\nrows usable: 3\nrows rejected: 2" in out
    assert "bad_base64: 1" in out and "empty_answer: 1" in out and f"{m3it} row coco:2: bad_base64" in out


def test_skip_bad_exits_zero(m3it: Path, capsys) -> None:
    assert check(str(m3it), "--skip-bad", "--format", "m3it") == 0
    assert "rows usable: 3" in capsys.readouterr().out


def test_check_with_tokenizer_runs_the_full_encoding(m3it: Path, tmp_path: Path, capsys) -> None:
    tokenizer("gpt2").save_pretrained(tmp_path / "tok")
    clip_processor().save_pretrained(tmp_path / "img")
    code = check(str(m3it), "--tokenizer", str(tmp_path / "tok"), "--image-processor", str(tmp_path / "img"),
                 "--max-length", "64")
    out = capsys.readouterr().out
    assert code == 1 and "full encoding" in out
    assert "rows usable: 2\nrows rejected: 3" in out and "too_long: 1" in out


def test_clean_data_passes(tmp_path: Path, capsys) -> None:
    path = write_jsonl(tmp_path / "coco" / "train.jsonl", [m3it_row(), m3it_row("astronaut.png")])
    assert check(str(path)) == 0
    assert "rows read: 2\nrows usable: 2\nrows rejected: 0" in capsys.readouterr().out


def test_tokenizer_needs_image_processor(m3it: Path, capsys) -> None:
    assert check(str(m3it), "--tokenizer", "x") == 1
    assert capsys.readouterr().err == ("gitllm data check: error: --tokenizer and --image-processor go together: "
                                       "pass both, or neither\n")
