"""The zoo cache: idempotent prepare, where the cache lives, atomic publish, redo of half-written folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from transformers import AutoModel

from gitllm.zoo import cache, prepare
from gitllm.zoo.registry import get_entry

DINO = "dinov2-small"


def _partials(root: Path) -> list[Path]:
    return list(root.glob(f".{DINO}.partial-*"))


@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "dinov2-small"])
def test_second_prepare_of_shared_cache_is_fast(name: str) -> None:
    first = prepare(name, progress=False)  # builds only if the shared cache lacks it
    start = time.perf_counter()
    second = prepare(name, progress=False)
    seconds = time.perf_counter() - start
    print(f"second prepare of {name}: {seconds * 1000:.1f} ms, folder {cache.folder_size(second) / 1e6:.1f} MB")
    assert second == first and seconds < 2.0


def test_cache_dir_comes_from_argument_then_env_then_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cache.ENV_VAR, raising=False)
    assert cache.cache_root() == Path.home() / ".cache" / "gitllm" / "zoo"
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "env"))
    assert cache.cache_root() == tmp_path / "env"
    assert cache.cache_root(tmp_path / "arg") == tmp_path / "arg"


def test_half_written_folder_and_stale_partial_are_redone(tmp_path: Path) -> None:
    target = tmp_path / DINO
    target.mkdir()
    (target / "config.json").write_text('{"model_type": "dinov2"}')
    (target / "model.safetensors").write_bytes(b"\0" * 1000)  # a build cut short, no marker
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".{DINO}.partial-{int(dead.stdout)}-x1"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"\0" * 1000)

    assert prepare(DINO, cache_dir=tmp_path, progress=False) == target
    assert cache.is_complete(target, get_entry(DINO))
    assert (target / "model.safetensors").stat().st_size > 80e6
    assert not _partials(tmp_path)
    AutoModel.from_pretrained(target)


def test_marker_of_another_revision_is_redone(tmp_path: Path) -> None:
    target = prepare(DINO, cache_dir=tmp_path, progress=False)
    marker = target / cache.MARKER
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "revision": 0}))
    assert not cache.is_complete(target, get_entry(DINO))
    prepare(DINO, cache_dir=tmp_path, progress=False)
    assert cache.is_complete(target, get_entry(DINO))


def test_killed_build_leaves_no_valid_folder(tmp_path: Path) -> None:
    code = f"from gitllm.zoo import prepare; prepare({DINO!r}, cache_dir={str(tmp_path)!r}, progress=False)"
    child = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 120
    while not _partials(tmp_path) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    if not _partials(tmp_path):
        pytest.skip("the child finished before it could be killed mid-build")
    assert not cache.is_complete(tmp_path / DINO, get_entry(DINO))
    assert not (tmp_path / DINO).exists()
    prepare(DINO, cache_dir=tmp_path, progress=False)  # redone cleanly; the killed run's folder is removed
    assert cache.is_complete(tmp_path / DINO, get_entry(DINO)) and not _partials(tmp_path)


def test_fault_damaged_prepared_folder_is_listed_corrupt_and_repaired(tmp_path: Path, capsys) -> None:
    """8 MB zeroed inside the prepared weights (same size): `zoo list` says corrupt, `zoo prepare` (and any
    `prepare` / `resolve`) rebuilds it."""
    from gitllm.cli import main

    entry = get_entry(DINO)
    target = prepare(DINO, cache_dir=tmp_path, progress=False)
    weights = target / "model.safetensors"
    good = weights.read_bytes()
    with weights.open("r+b") as stream:
        stream.seek(40_000_000)
        stream.write(b"\0" * 8_000_000)
    capsys.readouterr()
    assert main(["zoo", "list", "--cache-dir", str(tmp_path)]) == 0
    listed = capsys.readouterr().out
    assert f"{DINO:<24} corrupt" in listed and "model.safetensors does not match its sha256" in listed
    assert main(["zoo", "prepare", DINO, "--cache-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert f"{DINO} in {target} is damaged" in err and f"{DINO}: repaired in " in out
    assert weights.read_bytes() == good and cache.damage(target, entry) is None
    weights.write_bytes(good[:1000])  # cut short: the size alone tells
    assert cache.damage(target, entry) == f"model.safetensors is 1000 bytes, not {len(good)}"
    assert prepare(DINO, cache_dir=tmp_path, progress=False) == target and weights.read_bytes() == good


def test_fault_marker_without_checksums_is_not_trusted(tmp_path: Path) -> None:
    """A folder prepared by an older gitllm (its marker records no file checksums) is prepared again."""
    target = tmp_path / DINO
    target.mkdir()
    (target / "model.safetensors").write_bytes(b"\0" * 1000)
    (target / cache.MARKER).write_text(json.dumps({"name": DINO, "revision": get_entry(DINO).revision}))
    assert "no file checksums" in cache.damage(target, get_entry(DINO))
    assert not cache.damage(prepare(DINO, cache_dir=tmp_path, progress=False), get_entry(DINO))
    AutoModel.from_pretrained(target)
