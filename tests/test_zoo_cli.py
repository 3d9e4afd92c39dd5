"""`gitllm zoo list` / `gitllm zoo prepare`: registered, printing time and size, the path as the last line."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoModel

import gitllm.cli
from gitllm.cli import main
from gitllm.zoo import list_entries

DINO = "dinov2-small"


def _zoo_cli(argv: list[str]) -> int:
    return main(argv)


def test_cli_module_is_registered() -> None:
    assert "gitllm.zoo.cli" in gitllm.cli.COMMAND_MODULES


def test_list_names_every_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = ["smollm2-135m-instruct", "dinov2-small", "smollm2-135m-random", "gemma-3-270m"]
    assert [entry.name for entry in list_entries()] == names
    assert _zoo_cli(["zoo", "list", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"zoo cache: {tmp_path}" in out and "dinov2-small" in out and "not prepared" in out


def test_cli_prepare_prints_time_and_size_then_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _zoo_cli(["zoo", "prepare", DINO, "--cache-dir", str(tmp_path)]) == 0
    first = capsys.readouterr().out.splitlines()
    assert _zoo_cli(["zoo", "prepare", DINO, "--cache-dir", str(tmp_path)]) == 0
    second = capsys.readouterr().out.splitlines()
    with capsys.disabled():
        print("\n" + "\n".join(first + second))
    assert first[-1] == second[-1] == str(tmp_path / DINO)
    assert first[-2].startswith(f"{DINO}: prepared in ") and " MB" in first[-2]
    assert second[-2].startswith(f"{DINO}: already prepared, checked in ")
    assert AutoModel.from_pretrained(first[-1]).config.hidden_size == 384


def test_cli_prepare_unknown_name_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert _zoo_cli(["zoo", "prepare", "gpt-17"]) == 1
    known = "smollm2-135m-instruct, dinov2-small, smollm2-135m-random, gemma-3-270m"
    assert capsys.readouterr().err == f"gitllm zoo prepare: error: no zoo entry 'gpt-17'; known: {known}\n"
