"""Visual words: the nearest LLM input-embedding token to each projected image token (the seed's analysis)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from gitllm.data.images import ImageSource, load_image
from gitllm.data.pixels import PixelTransform
from gitllm.model import GitLLMForCausalLM, GitLLMProcessor
from gitllm.model.projection import per_token
from gitllm.model.vision import patch_grid, vision_family

Metric = Literal["cosine", "dot"]
METRICS: tuple[str, ...] = ("cosine", "dot")
CHUNK = 1024  # embedding rows scored at once: CHUNK x vocab floats


@dataclass
class VisualWords:
    """words: one per patch, row-major over `grid` (rows, cols); prefix_words: the CLS/register tokens
    (not patches); token_ids: the same as ids, prefix first; image (H, W, 3) uint8: what the encoder saw;
    patch_size (height, width) in its pixels; sanity: fraction of sampled vocabulary embeddings whose
    nearest token is themselves (None when not computed)."""

    words: list[str]
    prefix_words: list[str]
    token_ids: list[int]
    grid: tuple[int, int]
    patch_size: tuple[int, int]
    image: np.ndarray
    metric: str
    sanity: float | None = None

    @property
    def counts(self) -> Counter[str]:
        return Counter(self.words)

    def table(self, top: int = 20) -> str:
        """The most frequent patch words with counts, then the prefix tokens and the sanity check."""
        lines = [f"visual words ({self.metric}), {self.grid[0]}x{self.grid[1]} patches:", f"{'count':>5}  word"]
        lines += [f"{n:>5}  {word}" for word, n in self.counts.most_common(top)]
        if self.prefix_words:
            lines.append("prefix tokens (CLS/registers, not drawn): " + ", ".join(self.prefix_words))
        if self.sanity is not None:
            lines.append(f"sanity: {self.sanity:.1%} of sampled text embeddings map back to their own token")
        return "\n".join(lines)


def nearest_tokens(queries: torch.Tensor, vocab: torch.Tensor, metric: Metric = "cosine") -> torch.Tensor:
    """queries (N, D), vocab (V, D) -> (N,) index of the best-scoring vocabulary row (cosine or dot)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {METRICS}")
    queries, vocab = queries.float(), vocab.float()
    if metric == "cosine":
        queries, vocab = F.normalize(queries, dim=-1), F.normalize(vocab, dim=-1)
    return torch.cat([(chunk @ vocab.T).argmax(-1) for chunk in queries.split(CHUNK)])


def sanity_fraction(vocab: torch.Tensor, metric: Metric = "cosine", sample: int | None = 2048, seed: int = 0) -> float:
    """Fraction of vocabulary rows (a seeded sample, or all when `sample` is None) whose nearest row is
    themselves: the original notebook's check that the metric recovers text tokens from their embeddings."""
    ids = torch.arange(vocab.shape[0])
    if sample is not None and sample < len(ids):
        ids = torch.randperm(len(ids), generator=torch.Generator().manual_seed(seed))[:sample]
    return float((nearest_tokens(vocab[ids], vocab, metric) == ids).float().mean())


def token_word(tokenizer: object, token_id: int) -> str:
    """A readable form of one token: its decoded text, else (blank, or part of a UTF-8 character) its raw
    token string."""
    text = tokenizer.decode([token_id]).strip()  # type: ignore[attr-defined]
    return text if text and "\ufffd" not in text else repr(tokenizer.convert_ids_to_tokens(token_id))  # type: ignore[attr-defined]


def visual_words(
    model: GitLLMForCausalLM,
    processor: GitLLMProcessor,
    image: ImageSource,
    out_png: str | Path | None = None,
    metric: Metric = "cosine",
    sanity_tokens: int | None = 2048,
) -> VisualWords:
    """Nearest LLM tokens of every projected image token of `image`; draws the overlay when `out_png`.

    `sanity_tokens`: how many vocabulary embeddings the sanity check samples (None: all; 0: skip)."""
    return frame_visual_words(model, processor, [image], out_png, metric, sanity_tokens)[0]


@torch.no_grad()
def frame_visual_words(
    model: GitLLMForCausalLM,
    processor: GitLLMProcessor,
    images: Sequence[ImageSource],
    out_png: str | Path | None = None,
    metric: Metric = "cosine",
    sanity_tokens: int | None = 2048,
) -> list[VisualWords]:
    """`visual_words` of each of several images read together as frames: frame k's tokens include its
    temporal embedding, as the model sees them. Overlays go to `out_png`, or OUT-frame<k>.png for several."""
    transform = PixelTransform.from_processor(processor.image_processor)
    pixels = torch.stack([transform(load_image(image)) for image in images])  # (F, 3, H, W)
    # A pooling projection (git_mean, git_cls) runs per token, so that every patch still gets its word.
    projection = per_token(model.visual_projection)
    features = model.encode_images(pixels) if len(images) == 1 else model.frame_features(pixels[None])[0]
    embeds = projection(features.to(next(projection.parameters()).dtype))  # (F, N, D)
    vocab = model.get_input_embeddings().weight
    vision_config = model.config.vision_config
    prefix = vision_family(vision_config).prefix_tokens(vision_config) if model.config.keep_cls else 0
    grid = patch_grid(vision_config, image_size=tuple(pixels.shape[-2:]))
    sanity = sanity_fraction(vocab, metric, sanity_tokens) if sanity_tokens != 0 else None
    results = []
    for k, frame in enumerate(embeds):
        ids = nearest_tokens(frame, vocab, metric).tolist()
        # Contract: the image tokens are the prefix tokens followed by the patches, row-major over the grid.
        assert len(ids) == prefix + grid[0] * grid[1], (len(ids), prefix, grid)
        words = [token_word(processor.tokenizer, i) for i in ids]
        results.append(VisualWords(
            words=words[prefix:],
            prefix_words=words[:prefix],
            token_ids=ids,
            grid=grid,
            patch_size=(pixels.shape[-2] // grid[0], pixels.shape[-1] // grid[1]),
            image=model_view(pixels[k], processor.image_processor),
            metric=metric,
            sanity=sanity,
        ))
    if out_png is not None:
        from gitllm.play.overlay import save_overlay

        for k, result in enumerate(results):
            save_overlay(result, frame_path(out_png, k) if len(results) > 1 else out_png)
    return results


def frame_path(out_png: str | Path, frame: int) -> Path:
    """Where frame `frame`'s overlay goes: OUT-frame<k>.png beside OUT.png."""
    path = Path(out_png)
    return path.with_name(f"{path.stem}-frame{frame}{path.suffix}")


def model_view(pixels: torch.Tensor, image_processor: object) -> np.ndarray:
    """pixel_values (3, H, W) -> (H, W, 3) uint8: the image as the encoder saw it (normalisation undone)."""
    get = lambda name, default: getattr(image_processor, name, None) or default  # noqa: E731
    mean = torch.tensor(get("image_mean", [0.0] * 3) if get("do_normalize", False) else [0.0] * 3).view(3, 1, 1)
    std = torch.tensor(get("image_std", [1.0] * 3) if get("do_normalize", False) else [1.0] * 3).view(3, 1, 1)
    scale = float(get("rescale_factor", 1 / 255)) if get("do_rescale", False) else 1.0
    rgb = (pixels.float() * std + mean) / scale
    return rgb.clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
