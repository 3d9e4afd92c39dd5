"""Frozen-encoder feature cache: hits and misses, invalidation (image bytes, encoder, preprocessing),
persistence across instances, and training with the cache giving the loss training without it gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gitllm.data import Encoder, read
from gitllm.model.finite import NonFiniteError
from gitllm.train import FeatureCache, ImageKeys, encoder_identity, train
from gitllm.infer.features import cache_root
from test_train_support import tiny_config, tiny_table
from tiny_models import tiny_model, tiny_processor


def _setup(tmp_path: Path):
    samples = list(read(str(tiny_table(tmp_path, n=6))))
    model, processor = tiny_model(), tiny_processor()
    encoder = Encoder(processor.tokenizer, processor.image_processor)
    return samples, model, processor, encoder


def test_hits_misses_and_persistence(tmp_path: Path) -> None:
    samples, model, processor, encoder = _setup(tmp_path)
    identity = encoder_identity(model, processor.image_processor)
    cache, keys = FeatureCache(identity, tmp_path / "cache"), ImageKeys()
    sample_keys = [keys(s) for s in samples]
    assert cache.fill(samples[:4], sample_keys[:4], model, encoder.pixels) == 4
    assert cache.fill(samples, sample_keys, model, encoder.pixels) == 2  # only the two new images
    assert cache.fill(samples, sample_keys, model, encoder.pixels) == 0
    again = FeatureCache(identity, tmp_path / "cache")  # another run reads what this one wrote
    assert len(again) == 6 and all(k in again for (k,) in sample_keys)
    pixels = torch.stack([encoder.pixels(s.load_image()) for s in samples])
    with torch.no_grad():
        fresh = model.encode_images(pixels)
    cached = torch.stack([again.sample(k) for k in sample_keys]).float()
    assert cached.shape == fresh.shape and again.get(sample_keys[0][0]).dtype == torch.float16
    torch.testing.assert_close(cached, fresh, atol=2e-3, rtol=2e-3)


def test_uncommitted_shard_is_ignored(tmp_path: Path) -> None:
    """A shard whose key list was never written (a crash mid-write) is not read."""
    cache = FeatureCache("x", tmp_path)
    (cache.dir / "shard-dead.npy").write_bytes(b"partial")
    assert len(FeatureCache("x", tmp_path)) == 0


def test_changed_image_bytes_miss(tmp_path: Path) -> None:
    samples, *_ = _setup(tmp_path)
    keys = ImageKeys()
    before = keys(samples[0])
    path = Path(samples[0].images[0])
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data) + b"\0")  # same pixels, other bytes: a new key all the same
    assert keys(samples[0]) != before
    assert keys(samples[1]) != keys(samples[4])  # different images, different keys


def test_changed_encoder_or_preprocessing_changes_identity(tmp_path: Path) -> None:
    model, processor = tiny_model(), tiny_processor()
    base = encoder_identity(model, processor.image_processor)
    assert encoder_identity(tiny_model(), tiny_processor().image_processor) == base  # same weights, same key
    with torch.no_grad():
        next(model.vision_model.parameters()).view(-1)[0] += 1e-3
    assert encoder_identity(model, processor.image_processor) != base
    other = tiny_processor()
    other.image_processor.image_mean = [0.5, 0.5, 0.5]
    assert encoder_identity(tiny_model(), other.image_processor) != base
    assert encoder_identity(tiny_model(keep_cls=False), processor.image_processor) != base
    model_other_layer = tiny_model(vision_feature_layer=-2)
    assert encoder_identity(model_other_layer, processor.image_processor) != base


def _losses(run: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


def test_training_with_cache_matches_without(tmp_path: Path) -> None:
    with_cache = train(tiny_config(tmp_path, feature_cache="on", output_dir=str(tmp_path / "on")))
    without = train(tiny_config(tmp_path, feature_cache="off", output_dir=str(tmp_path / "off")))
    assert list((tmp_path / "features").iterdir())  # the cache was used
    torch.testing.assert_close(torch.tensor(_losses(tmp_path / "on")), torch.tensor(_losses(tmp_path / "off")),
                               atol=2e-3, rtol=0)
    assert abs(with_cache.eval_loss - without.eval_loss) < 2e-3


def _filled(tmp_path: Path):
    """A cache of the 6 images of the tiny table (one shard), its keys and what filling it needs."""
    samples, model, processor, encoder = _setup(tmp_path)
    identity = encoder_identity(model, processor.image_processor)
    cache, keys = FeatureCache(identity, tmp_path / "cache"), ImageKeys()
    sample_keys = [keys(s) for s in samples]
    assert cache.fill(samples, sample_keys, model, encoder.pixels) == 6
    expected = torch.stack([cache.sample(k) for k in sample_keys])
    return cache, identity, (samples, sample_keys, model, encoder.pixels), expected


def _same_size_garbage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-2000:-1000] = bytes(range(256)) * 3 + bytes(232)
    path.write_bytes(bytes(data))


def _nan_features(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-64:] = b"\xff\x7e" * 32  # float16 NaN
    path.write_bytes(bytes(data))


SHARD_DAMAGE = {
    "cut short": lambda path: path.write_bytes(path.read_bytes()[:1000]),
    "same-size garbage": _same_size_garbage,
    "NaN features": _nan_features,
}


@pytest.mark.parametrize("damage", list(SHARD_DAMAGE))
def test_fault_damaged_feature_shard_is_detected_and_rebuilt(tmp_path: Path, capsys, damage: str) -> None:
    cache, identity, fill_args, expected = _filled(tmp_path)
    [shard] = cache.dir.glob("shard-*.npy")
    SHARD_DAMAGE[damage](shard)
    again = FeatureCache(identity, tmp_path / "cache")  # a later run
    assert again.fill(*fill_args) == 6  # every image of the damaged shard encoded anew
    assert "removing" in capsys.readouterr().err and not shard.exists()
    rebuilt = torch.stack([again.sample(k) for k in fill_args[1]])
    assert torch.equal(rebuilt, expected)


def test_fault_corrupt_key_list_of_an_unrelated_shard_is_removed(tmp_path: Path, capsys) -> None:
    cache, identity, fill_args, expected = _filled(tmp_path)
    (cache.dir / "shard-other.npy").write_bytes(b"\x93NUMPY")
    (cache.dir / "shard-other.keys.json").write_text('["k1", "k2"')  # cut short
    again = FeatureCache(identity, tmp_path / "cache")
    assert "shard-other (its key list is unreadable)" in capsys.readouterr().err
    assert again.fill(*fill_args) == 0 and torch.equal(torch.stack([again.sample(k) for k in fill_args[1]]), expected)
    assert not (cache.dir / "shard-other.keys.json").exists()


def test_fault_nan_features_are_never_cached(tmp_path: Path) -> None:
    samples, model, processor, encoder = _setup(tmp_path)
    with torch.no_grad():
        model.vision_model.embeddings.patch_embedding.weight[0, 0, 0, 0] = float("nan")
    cache = FeatureCache("nan", tmp_path / "cache")
    with pytest.raises(NonFiniteError, match="NaN or inf features .* for 6 of 6 images"):
        cache.fill_samples(samples, model, encoder.pixels)
    assert len(FeatureCache("nan", tmp_path / "cache")) == 0 and not list(cache.dir.iterdir())


def test_fault_identity_covers_the_pixel_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An edit to gitllm/data/pixels.py (e.g. a resize fix) gives a new identity: no stale features."""
    import gitllm.data.pixels

    model, processor = tiny_model(), tiny_processor()
    base = encoder_identity(model, processor.image_processor)
    edited = tmp_path / "pixels.py"
    edited.write_text(Path(gitllm.data.pixels.__file__).read_text() + "\n# a fix\n")
    monkeypatch.setattr(gitllm.data.pixels, "__file__", str(edited))
    assert encoder_identity(model, processor.image_processor) != base


def test_fault_cache_folder_from_the_environment_expands_home(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GITLLM_FEATURE_CACHE", "~/features")
    assert cache_root() == tmp_path / "features"
    assert FeatureCache("x").dir == tmp_path / "features" / "x"
    assert cache_root("~/mine") == tmp_path / "mine"
