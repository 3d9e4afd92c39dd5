"""Frozen-encoder feature cache: vision features computed once, reused across epochs, runs and evaluations.

Layout: `ROOT/<identity>/shard-<id>.npy` (float16, (n, N, Dv), memory-mapped on read) and
`shard-<id>.keys.json` (the n image keys, written last: a shard without it is ignored, so a crash loses
nothing already written). `identity` hashes the encoder (config + every weight), how features are taken
(layer, CLS) and the image preprocessing; an image key hashes the image file's bytes. A changed encoder,
preprocessing or image therefore never reuses a stale entry. Entries are per image: a sample with several
images (frames) has one key per frame, and its features are their stack (F, N, Dv).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from gitllm.data.pixels import PixelTransform
from gitllm.data.schema import Base64Image, Sample
from gitllm.data.video import VideoFrame

DEFAULT_ROOT = Path(os.environ.get("GITLLM_FEATURE_CACHE", Path.home() / ".cache" / "gitllm" / "features"))
SHARD_ROWS = 4096


def _digest(*parts: bytes) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part)
    return h.hexdigest()


def encoder_identity(model: Any, image_processor: Any) -> str:
    """Hash of the vision tower's config and weights, the feature layer/CLS choice and the preprocessing."""
    h = hashlib.blake2b(digest_size=16)
    h.update(model.config.vision_config.to_json_string(use_diff=False).encode())
    h.update(json.dumps([model.config.vision_feature_layer, model.config.keep_cls]).encode())
    h.update(image_processor.to_json_string().encode())
    for name, tensor in sorted(model.vision_model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class ImageKeys:
    """Content hashes of a sample's frames (`Sample.frames(max_frames)`); file hashes memoised per
    (path, size, mtime)."""

    def __init__(self, max_frames: int | None = None) -> None:
        self.max_frames = max_frames
        self._files: dict[tuple[str, int, int], str] = {}

    def __call__(self, sample: Sample) -> list[str]:
        return [self.key(image) for image in sample.frames(self.max_frames)]

    def key(self, image: Any) -> str:
        """The content hash of one image."""
        if isinstance(image, Base64Image):
            return _digest(image.decode())
        if isinstance(image, (bytes, bytearray)):
            return _digest(bytes(image))
        if isinstance(image, VideoFrame):
            return _digest(self.key(image.path).encode(), f"frame {image.index}".encode())
        if isinstance(image, (str, Path)):
            stat = os.stat(image)
            memo = (str(image), stat.st_size, stat.st_mtime_ns)
            if memo not in self._files:
                self._files[memo] = _digest(Path(image).read_bytes())
            return self._files[memo]
        if hasattr(image, "tobytes"):  # PIL image
            return _digest(f"{image.mode}{image.size}".encode(), image.tobytes())
        raise ValueError(f"cannot hash image of type {type(image).__name__} for the feature cache")


class FeatureCache:
    """Features of one encoder identity under `root`; `get(key)` -> (N, Dv) float16 tensor."""

    def __init__(self, identity: str, root: str | Path | None = None) -> None:
        self.dir = Path(root or DEFAULT_ROOT) / identity
        self.dir.mkdir(parents=True, exist_ok=True)
        self.index: dict[str, tuple[str, int]] = {}
        self._shards: dict[str, np.ndarray] = {}
        self.refresh()

    def refresh(self) -> None:
        """Re-read the committed shards (another process may have added some)."""
        for keys_file in sorted(self.dir.glob("shard-*.keys.json")):
            shard = keys_file.name.removesuffix(".keys.json")
            for row, key in enumerate(json.loads(keys_file.read_text())):
                self.index.setdefault(key, (shard, row))

    def __contains__(self, key: str) -> bool:
        return key in self.index

    def __len__(self) -> int:
        return len(self.index)

    def get(self, key: str) -> torch.Tensor:
        shard, row = self.index[key]
        if shard not in self._shards:
            self._shards[shard] = np.load(self.dir / f"{shard}.npy", mmap_mode="r")
        return torch.from_numpy(np.array(self._shards[shard][row]))

    def sample(self, keys: Sequence[str]) -> torch.Tensor:
        """A sample's features from its frame keys: (N, Dv) for one image, (F, N, Dv) for frames."""
        if len(keys) == 1:
            return self.get(keys[0])
        return torch.from_numpy(np.stack([self.get(key).numpy() for key in keys]))

    def add(self, keys: Sequence[str], features: np.ndarray) -> None:
        """Write one shard (features (n, N, Dv)), committing it by writing its key list last."""
        assert len(keys) == len(features), (len(keys), features.shape)
        shard = f"shard-{uuid.uuid4().hex[:12]}"
        tmp = self.dir / f"{shard}.tmp.npy"
        np.save(tmp, features.astype(np.float16))
        tmp.rename(self.dir / f"{shard}.npy")
        tmp_keys = self.dir / f"{shard}.keys.tmp"
        tmp_keys.write_text(json.dumps(list(keys)))
        tmp_keys.rename(self.dir / f"{shard}.keys.json")
        self.index.update({key: (shard, row) for row, key in enumerate(keys) if key not in self.index})

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
        """Encode the frames (`Sample.frames(max_frames)`) of `samples` whose `keys` are missing; returns how
        many were computed."""
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
        for start in tqdm(range(0, len(items), SHARD_ROWS), desc="feature cache shards", disable=len(items) <= SHARD_ROWS):
            chunk = items[start : start + SHARD_ROWS]
            out = []
            for i in tqdm(range(0, len(chunk), batch_size), desc=f"caching {len(chunk)} image features", leave=False):
                batch = [pixels(s.decode(image, pixels.min_side)) for _, (s, image) in chunk[i : i + batch_size]]
                out.append(model.encode_images(torch.stack(batch)).float().cpu().numpy())
            self.add([k for k, _ in chunk], np.concatenate(out))
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
