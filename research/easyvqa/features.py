"""Cache frozen DINOv2-S hidden states (all layers) of the easy-VQA images at one resolution, plus per-image labels.

Usage: python features.py SIZE  -> /tmp/evqa_feats_{SIZE}.pt {split: {"hidden": (I, L+1, N, D) fp16, "colour", "shape"}}
"""

from __future__ import annotations

import sys
import time

import easy_vqa
import torch
from PIL import Image
from transformers import AutoModel

from gitllm.zoo import resolve

COLOURS = ["red", "green", "blue", "black", "gray", "teal", "brown", "yellow"]
SHAPES = ["circle", "rectangle", "triangle"]
MEAN, STD = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def labels(questions: list[str], answers: list[str], image_ids: list[int], count: int) -> tuple[list[int], list[int]]:
    """Per-image colour / shape index (-1 when no question reveals it)."""
    colour, shape = [-1] * count, [-1] * count
    for q, a, i in zip(questions, answers, image_ids):
        words = q.rstrip("?").split()
        c = next((w for w in words if w in COLOURS), None)
        s = next((w for w in words if w in SHAPES), None)
        if a in COLOURS:
            colour[i] = COLOURS.index(a)
            if s:
                shape[i] = SHAPES.index(s)
        elif a in SHAPES:
            shape[i] = SHAPES.index(a)
            if c:
                colour[i] = COLOURS.index(c)
        elif a == "yes" and "not" not in words and "no" not in words:
            if c:
                colour[i] = COLOURS.index(c)
            if s:
                shape[i] = SHAPES.index(s)
    return colour, shape


def pixels(path: str, size: int) -> torch.Tensor:
    image = torch.from_numpy(__import__("numpy").array(Image.open(path).convert("RGB"))).permute(2, 0, 1)[None]
    image = torch.nn.functional.interpolate(image.float(), size=(size, size), mode="bicubic", align_corners=False)[0]
    return (image.clamp(0, 255) / 255 - MEAN) / STD


def main(size: int) -> None:
    torch.set_num_threads(int(__import__("os").environ.get("THREADS", "2")))
    model = AutoModel.from_pretrained(resolve("dinov2-small")).eval()
    out = {}
    for split, getq, getp in [("train", easy_vqa.get_train_questions, easy_vqa.get_train_image_paths),
                              ("test", easy_vqa.get_test_questions, easy_vqa.get_test_image_paths)]:
        paths = getp()
        q, a, ids = getq()
        colour, shape = labels(q, a, ids, len(paths))
        start, hidden = time.time(), []
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            for b in range(0, len(paths), 64):
                batch = torch.stack([pixels(paths[i], size) for i in range(b, min(b + 64, len(paths)))])
                hs = model(pixel_values=batch, output_hidden_states=True).hidden_states
                hidden.append(torch.stack(hs, 1).half())
        print(split, f"{time.time() - start:.1f}s", flush=True)
        out[split] = {"hidden": torch.cat(hidden), "colour": torch.tensor(colour), "shape": torch.tensor(shape)}
    torch.save(out, f"/tmp/evqa_feats_{size}.pt")


if __name__ == "__main__":
    main(int(sys.argv[1]))
