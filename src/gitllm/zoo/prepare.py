"""Turning a zoo entry into a prepared Hugging Face folder (once), and resolving names to folders."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from gitllm.zoo import cache, sources
from gitllm.zoo.registry import ENTRIES, ZooEntry, get_entry

Builder = Callable[[Path, Path], Iterator[str]]


def _builder(entry: ZooEntry) -> Builder:
    module, function = entry.builder.split(":")
    return getattr(importlib.import_module(module), function)


def _build(entry: ZooEntry, source: Path, out_dir: Path, progress: bool) -> None:
    """Verify the source file, then run the entry's builder into `out_dir` under a tqdm bar."""
    from tqdm.auto import tqdm
    from transformers.utils import logging as hf_logging

    bars_were_enabled = hf_logging.is_progress_bar_enabled()
    if not progress:
        hf_logging.disable_progress_bar()
    try:
        with tqdm(total=entry.steps + 1, desc=f"preparing {entry.name}", unit="step", disable=not progress) as bar:
            bar.set_postfix_str("checking source")
            sources.verify(entry, source)
            bar.update()
            done = 0
            for label in _builder(entry)(source, out_dir):
                done += 1
                bar.set_postfix_str(label)
                bar.update()
            assert done == entry.steps, f"Contract: builder of {entry.name} yields {entry.steps} stages, got {done}"
    finally:
        if bars_were_enabled:
            hf_logging.enable_progress_bar()


def prepare(name: str, cache_dir: str | Path | None = None, progress: bool = True) -> Path:
    """Prepared folder of zoo entry `name`, building it first if the cache has no finished, intact build.

    Idempotent: once built and checked (`cache.damage`: sizes, and checksums once per process), a call only
    compares the marker and file sizes. A damaged folder is prepared again, saying so on stderr. A cache
    folder that is read-only is fine for entries already prepared there; building into it raises
    CacheNotWritableError.
    """
    entry = get_entry(name)
    root = cache.cache_root(cache_dir)
    target = root / entry.name
    if cache.is_complete(target, entry):
        problem = cache.damage(target, entry)
        if problem is None:
            return target
        print(f"gitllm zoo: {entry.name} in {target} is damaged ({problem}); preparing it again",
              file=sys.stderr, flush=True)
    sources.check_requirements(entry)
    source = sources.locate(entry)
    return cache.publish(root, entry, lambda out_dir: _build(entry, source, out_dir, progress))


def resolve(name_or_path: str) -> str:
    """A zoo entry name -> its prepared folder (prepared now if needed); anything else is returned unchanged.

    Zoo names win over a local folder of the same name; pass "./name" to mean the folder.
    """
    if name_or_path in ENTRIES:
        return str(prepare(name_or_path))
    return name_or_path
