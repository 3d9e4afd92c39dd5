"""Training data from a DataSpec: samples read and split, encoded on the fly, images as pixels or cached features."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

import torch
from torch.utils.data import Dataset

from gitllm.data import Encoder, RowPolicy, Sample, read
from gitllm.train.config import DataSpec
from gitllm.infer.features import FeatureCache, ImageKeys


def set_image_size(image_processor: Any, size: int) -> None:
    """Make `image_processor` produce `size` x `size` images (resize, then crop when it crops)."""
    if getattr(image_processor, "do_center_crop", False):
        image_processor.size = {"shortest_edge": size}
        image_processor.crop_size = {"height": size, "width": size}
    else:
        image_processor.size = {"height": size, "width": size}


def reader_options(spec: DataSpec, split: str | None) -> dict[str, Any]:
    """Keyword options for `gitllm.data.read` (instruction, M3IT tasks and split)."""
    options = {"instruction": spec.instruction, "tasks": spec.tasks, "split": split}
    return {k: v for k, v in options.items() if v}


def read_samples(spec: DataSpec, sources: Sequence[str], limit: int | None, split: str | None) -> list[Sample]:
    """Up to `limit` samples from `sources` in order (bad rows raise unless `skip_bad`); none is a ValueError."""
    policy = RowPolicy(skip_bad=spec.skip_bad)
    out: list[Sample] = []
    for source in sources:
        left = None if limit is None else limit - len(out)
        out += islice(read(source, spec.format, policy, **reader_options(spec, split)), left)
    policy.report()
    if not out:
        raise ValueError(f"no usable rows in {list(sources)} (all {policy.n_rejected} rejected); "
                         "run `gitllm data check` on them")
    return out


def usable_samples(samples: Sequence[Sample], encoder: Encoder, policy: RowPolicy) -> list[Sample]:
    """The samples whose text fits `encoder.max_length` and whose image decodes; the others raise or, with
    `policy.skip_bad`, are counted. Each image is decoded once here (training decodes it again)."""

    def check(sample: Sample) -> Sample:
        encoder.text(sample)
        sample.load_image(encoder.pixels.min_side)
        return sample

    return [s for s in samples if policy.guard(check, s) is not None]


def _train_samples(spec: DataSpec, limit: int | None, seed: int) -> list[Sample]:
    if not spec.shuffle:
        return read_samples(spec, spec.train, limit, spec.split)
    samples = read_samples(spec, spec.train, None, spec.split)
    random.Random(seed).shuffle(samples)
    return samples[:limit]


def split_samples(spec: DataSpec, seed: int = 0, encoder: Encoder | None = None) -> tuple[list[Sample], list[Sample]]:
    """(train, val): `val` sources when given, else `val_size` train samples held out (`DataSpec.val_by`);
    train rows redrawn by `balance_answers` when asked. With `streaming`, train is empty (the caller streams
    it) and val must come from `val` sources. With `spec.skip_bad` and an `encoder`, rows too long or whose
    image fails to decode are dropped and counted first (`usable_samples`), so none stops the feature-cache
    fill or the run partway."""
    train, val = _split(spec, seed)
    if spec.skip_bad and encoder is not None:
        policy = RowPolicy(skip_bad=True)
        train, val = usable_samples(train, encoder, policy), usable_samples(val, encoder, policy)
        policy.report()
        for name, kept in (("training", train or spec.streaming), ("validation", val)):
            if not kept:
                raise ValueError(f"no usable {name} rows left after skipping bad ones\n{policy.summary()}")
    return (balance_answers(train, seed) if spec.balance_answers else train), val


def _split(spec: DataSpec, seed: int) -> tuple[list[Sample], list[Sample]]:
    if spec.val:
        train = [] if spec.streaming else _train_samples(spec, spec.max_train_samples, seed)
        return train, read_samples(spec, spec.val, spec.max_val_samples, spec.val_split)
    if spec.streaming:
        raise ValueError("config key 'data.val': streaming needs separate val sources")
    if spec.val_by == "image":
        policy = RowPolicy(skip_bad=spec.skip_bad)
        train, val = hold_out_images(read_samples(spec, spec.train, None, spec.split), spec.val_size, policy)
        policy.report()
        if spec.shuffle:
            random.Random(seed).shuffle(train)
        return train[: spec.max_train_samples], val[: spec.max_val_samples]
    limit = None if spec.max_train_samples is None else spec.max_train_samples + spec.val_size
    samples = _train_samples(spec, limit, seed)
    if len(samples) <= spec.val_size:
        raise ValueError(f"config key 'data.val_size': {spec.val_size} held out of only {len(samples)} samples")
    val = samples[len(samples) - spec.val_size :][: spec.max_val_samples]
    return samples[: len(samples) - spec.val_size], val


def hold_out_images(samples: Sequence[Sample], val_size: int,
                    policy: RowPolicy | None = None) -> tuple[list[Sample], list[Sample]]:
    """(train, val) with every sample of an image on one side: whole images, taken in the order of their
    content hash (the same on every machine and for every seed), go to val until it has >= `val_size` rows.
    A row whose image cannot be read raises, or with `policy.skip_bad` is left out and counted. A sample with
    several images (frames) belongs to its whole image list."""
    keys, policy = ImageKeys(), policy or RowPolicy()
    by_image: dict[str, list[int]] = defaultdict(list)
    for i, sample in enumerate(samples):
        key = policy.guard(keys, sample)
        if key is not None:
            by_image["+".join(key)].append(i)
    held: set[int] = set()
    for key in sorted(by_image):
        if len(held) >= val_size:
            break
        held.update(by_image[key])
    kept = {i for rows in by_image.values() for i in rows}
    if len(held) >= len(kept):
        raise ValueError(f"config key 'data.val_size': {val_size} rows held out by image leave no training rows "
                         f"({len(kept)} rows of {len(by_image)} images)")
    return [samples[i] for i in sorted(kept - held)], [samples[i] for i in sorted(held)]


def balance_answers(samples: Sequence[Sample], seed: int) -> list[Sample]:
    """As many rows as `samples`, redrawn so that within each question text every answer is equally frequent;
    each question text keeps its share of rows. Rows are drawn without replacement until an answer's rows run
    out, then again in a new order. Rows without a question (captions) are kept as they are."""
    rng = random.Random(seed)
    groups: dict[str, dict[str, list[Sample]]] = defaultdict(lambda: defaultdict(list))
    out: list[Sample] = []
    for sample in samples:
        question, answer = ([""] + [" ".join(t.text.lower().split()) for t in sample.conversation])[-2:]
        if question:
            groups[question][answer].append(sample)
        else:
            out.append(sample)
    for by_answer in groups.values():
        answers = sorted(by_answer)
        size = sum(len(rows) for rows in by_answer.values())
        draws = {a: _cycle(by_answer[a], rng) for a in answers}
        out += [next(draws[answers[k % len(answers)]]) for k in range(size)]
    rng.shuffle(out)
    return out


def _cycle(rows: list[Sample], rng: random.Random) -> Iterator[Sample]:
    """`rows` in a random order, again and again (a new order each pass)."""
    while True:
        order = list(rows)
        rng.shuffle(order)
        yield from order


class FeatureDataset(Dataset):
    """Rows with `vision_features` (N, Dv), or (F, N, Dv) for frames, from the cache instead of `pixel_values`."""

    def __init__(self, samples: Sequence[Sample], encoder: Encoder, cache: FeatureCache,
                 keys: Sequence[Sequence[str]]) -> None:
        # Contract: every frame is in the cache (fill it first).
        assert all(k in cache for frame_keys in keys for k in frame_keys), "fill the feature cache first"
        self.samples, self.encoder, self.cache, self.keys = samples, encoder, cache, keys

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.encoder.text(self.samples[index]) | {"vision_features": self.cache.sample(self.keys[index])}


def cached_dataset(samples: Sequence[Sample], encoder: Encoder, cache: FeatureCache, model: Any,
                   keys: ImageKeys, batch_size: int) -> FeatureDataset:
    """Fill `cache` with the images of `samples` (misses only) and wrap them as a FeatureDataset."""
    return FeatureDataset(samples, encoder, cache, cache.fill_samples(samples, model, encoder.pixels, keys, batch_size))
