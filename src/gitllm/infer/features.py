"""Frozen-encoder feature cache: vision features computed once, reused across epochs, runs and evaluations.

Layout: `ROOT/<identity>/shard-<id>.npy` (float16, (n, N, Dv), memory-mapped on read) and
`shard-<id>.keys.json` ({"keys": the n image keys, "bytes" and "blake2b" of the .npy}, written last: a shard
without it is ignored, so a crash loses nothing already written). `identity` hashes the encoder (config + every
weight), how features are taken (layer, CLS), the image processor's settings and the source of the code that
turns files into pixels; an image key hashes the image file's bytes. A changed encoder, preprocessing or image
therefore never reuses a stale entry. Each shard is checked (size, then checksum) the first time this cache
reads it; a shard that fails, or whose key list is unreadable, is removed and its images encoded again.
Entries are per image: a sample with several images (frames) has one key per frame, and its features are
their stack (F, N, Dv).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from gitllm.data import images as image_code, pixels as pixel_code
from gitllm.data.images import ImageError
from gitllm.data.pixels import PixelTransform
from gitllm.data.schema import Base64Image, Sample
from gitllm.data.video import VideoFrame
from gitllm.model.finite import NonFiniteError

ENV_VAR = "GITLLM_FEATURE_CACHE"
DEFAULT_ROOT = Path("~/.cache/gitllm/features")
SHARD_ROWS = 4096
FORMAT = 2  # of the shard files; part of the identity
PREPROCESSING_CODE = (pixel_code, image_code)  # modules whose source is part of the identity


def cache_root(root: str | Path | None = None) -> Path:
    """The cache folder: `root` if given, else $GITLLM_FEATURE_CACHE, else ~/.cache/gitllm/features (`~` expanded)."""
    chosen = root if root is not None else os.environ.get(ENV_VAR) or DEFAULT_ROOT
    return Path(chosen).expanduser()


def _digest(*parts: bytes) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part)
    return h.hexdigest()


def _file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with path.open("rb") as stream:
        while block := stream.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def encoder_identity(model: Any, image_processor: Any) -> str:
    """Hash of the vision tower's config and weights, the feature layer/CLS choice, the image processor's
    settings, the pixel code's source (`PREPROCESSING_CODE`) and the shard format."""
    h = hashlib.blake2b(digest_size=16)
    h.update(model.config.vision_config.to_json_string(use_diff=False).encode())
    h.update(json.dumps([model.config.vision_feature_layer, model.config.keep_cls, FORMAT]).encode())
    h.update(image_processor.to_json_string().encode())
    for module in PREPROCESSING_CODE:
        h.update(Path(module.__file__).read_bytes())
    for name, tensor in sorted(model.vision_model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class ImageKeys:
    """Content hashes of a sample's frames (`Sample.frames(max_frames)`); file hashes memoised per
    (path, size, mtime). An image that cannot be read raises BadRowError naming the sample's row."""

    def __init__(self, max_frames: int | None = None) -> None:
        self.max_frames = max_frames
        self._files: dict[tuple[str, int, int], str] = {}

    def __call__(self, sample: Sample) -> list[str]:
        return [self.key(image, sample) for image in sample.frames(self.max_frames)]

    def key(self, image: Any, sample: Sample) -> str:
        """The content hash of one of `sample`'s images."""
        if isinstance(image, Base64Image):
            try:
                return _digest(image.decode())
            except ImageError as err:
                raise sample.error(err.reason, err.detail) from None
        if isinstance(image, (bytes, bytearray)):
            return _digest(bytes(image))
        if isinstance(image, VideoFrame):
            return _digest(self.key(image.path, sample).encode(), f"frame {image.index}".encode())
        if isinstance(image, (str, Path)):
            if not Path(image).is_file():
                raise sample.error("image_not_found", f"no such file: {image}")
            stat = os.stat(image)
            memo = (str(image), stat.st_size, stat.st_mtime_ns)
            if memo not in self._files:
                self._files[memo] = _digest(Path(image).read_bytes())
            return self._files[memo]
        if hasattr(image, "tobytes"):  # PIL image
            return _digest(f"{image.mode}{image.size}".encode(), image.tobytes())
        raise ValueError(f"cannot hash image of type {type(image).__name__} for the feature cache")


class FeatureCache:
    """Features of one encoder identity under `root` (see `cache_root`); `get(key)` -> (N, Dv) float16 tensor."""

    def __init__(self, identity: str, root: str | Path | None = None) -> None:
        self.dir = cache_root(root) / identity
        self.dir.mkdir(parents=True, exist_ok=True)
        self.index: dict[str, tuple[str, int]] = {}
        self._shards: dict[str, np.ndarray] = {}
        self._records: dict[str, dict[str, Any]] = {}  # shard -> its keys.json
        self._checked: set[str] = set()
        self.refresh()

    def refresh(self) -> None:
        """Re-read the committed shards (another process may have added some); an unreadable key list
        removes its shard."""
        for keys_file in sorted(self.dir.glob("shard-*.keys.json")):
            shard = keys_file.name.removesuffix(".keys.json")
            if shard in self._records:
                continue
            try:
                record = json.loads(keys_file.read_text(encoding="utf-8"))
                well_formed = isinstance(record.get("keys"), list) and isinstance(record.get("bytes"), int) \
                    and isinstance(record.get("blake2b"), str)
            except (OSError, ValueError, AttributeError):  # UnicodeDecodeError is a ValueError
                well_formed = False
            if not well_formed:
                self._remove(shard, "its key list is unreadable")
                continue
            self._records[shard] = record
            for row, key in enumerate(record["keys"]):
                self.index.setdefault(key, (shard, row))

    def __contains__(self, key: str) -> bool:
        return key in self.index

    def __len__(self) -> int:
        return len(self.index)

    def check(self, shards: Iterable[str]) -> None:
        """Check each shard once (file size, then checksum); one that fails is removed with its keys."""
        for shard in set(shards) - self._checked:
            record, path = self._records[shard], self.dir / f"{shard}.npy"
            size = path.stat().st_size if path.is_file() else None
            if size != record["bytes"]:
                self._remove(shard, f"its file is {size} bytes, not {record['bytes']} (cut short or missing)")
            elif _file_digest(path) != record["blake2b"]:
                self._remove(shard, "its checksum does not match (the file was changed)")
            else:
                self._checked.add(shard)

    def get(self, key: str) -> torch.Tensor:
        shard, row = self.index[key]
        self.check([shard])
        if key not in self.index:
            raise ValueError(f"feature cache shard {shard} in {self.dir} was damaged and is removed; "
                             "fill the cache again (FeatureCache.fill) to encode its images anew")
        if shard not in self._shards:
            self._shards[shard] = np.load(self.dir / f"{shard}.npy", mmap_mode="r")
        return torch.from_numpy(np.array(self._shards[shard][row]))

    def sample(self, keys: Sequence[str]) -> torch.Tensor:
        """A sample's features from its frame keys: (N, Dv) for one image, (F, N, Dv) for frames."""
        if len(keys) == 1:
            return self.get(keys[0])
        return torch.from_numpy(np.stack([self.get(key).numpy() for key in keys]))

    def add(self, keys: Sequence[str], features: np.ndarray) -> None:
        """Write one shard (features (n, N, Dv)), committing it by writing its key list last; features that
        are NaN or inf in float16 are a NonFiniteError (nothing written)."""
        assert len(keys) == len(features), (len(keys), features.shape)
        half = features.astype(np.float16)
        bad = int((~np.isfinite(half)).reshape(len(half), -1).any(1).sum())
        if bad:
            raise NonFiniteError(
                f"the vision encoder gave NaN or inf features (in float16) for {bad} of {len(keys)} images, so "
                "none is cached; its weights hold NaN/inf or its outputs exceed float16's range"
            )
        shard = f"shard-{uuid.uuid4().hex[:12]}"
        tmp = self.dir / f"{shard}.tmp.npy"
        np.save(tmp, half)
        record = {"keys": list(keys), "bytes": tmp.stat().st_size, "blake2b": _file_digest(tmp)}
        tmp.rename(self.dir / f"{shard}.npy")
        tmp_keys = self.dir / f"{shard}.keys.tmp"
        tmp_keys.write_text(json.dumps(record))
        tmp_keys.rename(self.dir / f"{shard}.keys.json")
        self._records[shard] = record
        self._checked.add(shard)
        self.index.update({key: (shard, row) for row, key in enumerate(keys) if key not in self.index})

    def _remove(self, shard: str, reason: str) -> None:
        """Forget and delete a damaged shard, saying so; its images are encoded again when next needed."""
        print(f"gitllm feature cache: removing {self.dir / shard} ({reason}); its images are encoded again "
              "when needed", file=sys.stderr, flush=True)
        self._records.pop(shard, None)
        self._shards.pop(shard, None)
        for suffix in (".npy", ".keys.json"):
            (self.dir / f"{shard}{suffix}").unlink(missing_ok=True)
        self.index = {}
        for name, record in self._records.items():  # a key of the removed shard may sit in another one too
            for row, key in enumerate(record["keys"]):
                self.index.setdefault(key, (name, row))

    def fill_samples(self, samples: Sequence[Sample], model: Any, pixels: Any, keys: ImageKeys | None = None,
                     batch_size: int = 32) -> list[list[str]]:
        """Encode the frames of `samples` not cached yet (each distinct image once); returns each sample's
        frame keys."""
        image_keys = keys or ImageKeys()
        sample_keys = [image_keys(s) for s in samples]
        self.fill(samples, sample_keys, model, pixels, image_keys.max_frames, batch_size)
        return sample_keys

    @torch.no_grad()
    def fill(self, samples: Sequence[Sample], keys: Sequence[Sequence[str]], model: Any, pixels: Any,
             max_frames: int | None = None, batch_size: int = 32) -> int:
        """Encode the frames (`Sample.frames(max_frames)`) of `samples` whose `keys` are missing (or sit in a
        damaged shard, `check`); returns how many were computed."""
        self.check({self.index[key][0] for frame_keys in keys for key in frame_keys if key in self.index})
        todo: dict[str, tuple[Sample, Any]] = {}
        for sample, frame_keys in zip(samples, keys):
            for key, image in zip(frame_keys, sample.frames(max_frames), strict=True):
                if key not in self.index and key not in todo:
                    todo[key] = (sample, image)
        if not todo:
            return 0
        items = list(todo.items())
        was_training = model.training
        model.eval()
        try:
            for start in tqdm(range(0, len(items), SHARD_ROWS), desc="feature cache shards",
                              disable=len(items) <= SHARD_ROWS):
                chunk = items[start : start + SHARD_ROWS]
                out = []
                for i in tqdm(range(0, len(chunk), batch_size), desc=f"caching {len(chunk)} image features",
                              leave=False):
                    batch = [pixels(s.decode(image, pixels.min_side)) for _, (s, image) in chunk[i : i + batch_size]]
                    out.append(model.encode_images(torch.stack(batch)).float().cpu().numpy())
                self.add([k for k, _ in chunk], np.concatenate(out))
        finally:
            model.train(was_training)
        return len(items)


def sample_features(model: Any, processor: Any, samples: Sequence[Sample], root: str | Path | None = None,
                    batch_size: int = 32) -> list[torch.Tensor]:
    """Vision features (N, Dv) of each sample's image, (F, N, Dv) of its frames (at most the model's
    `num_image_with_embedding`), through the cache under `root`: each distinct image is encoded once, by this
    call or an earlier run with the same encoder (e.g. an evaluation's repeated images)."""
    cache = FeatureCache(encoder_identity(model, processor.image_processor), root)
    keys = cache.fill_samples(samples, model, PixelTransform.from_processor(processor.image_processor),
                              ImageKeys(model.config.num_image_with_embedding), batch_size=batch_size)
    return [cache.sample(frame_keys) for frame_keys in keys]
