"""Data pipeline throughput: M3IT base64 rows -> training batches, ours vs the seed's way, same run.

Seed's way (its SupervisedDataset): per row, decode the base64 JPEG in full, call CLIPImageProcessor on the
one image, tokenize padding to max_length=512, labels = input_ids; batches by stacking.
Ours: gitllm.data (JPEG draft decoding, PIL resize + fused torch normalize, answer-only labels, dynamic
left padding in the Collator). Both read the same in-memory rows: COCO-sized JPEGs (longest side 640) of
scikit-image photos. 2 torch threads, one warm-up pass, then --repeats rounds, the two ways alternating; each
figure is the median over the rounds with its min-max, the ratio the median of per-round ratios.

    .venv/bin/python bench/bench_data.py [--rows 96] [--batch 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_data_fixtures import b64, encoded, photo, tokenizer  # noqa: E402  (shared fixture builders)
from transformers import CLIPImageProcessor  # noqa: E402

from gitllm.data import Collator, Encoder  # noqa: E402
from gitllm.data.readers.m3it import row_to_sample  # noqa: E402
from repeats import add_repeats_argument, interleaved, ratio, spread  # noqa: E402

PHOTOS = ("chelsea.png", "astronaut.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "hubble_deep_field.jpg")


def m3it_rows(n: int) -> list[dict]:
    images = [b64(encoded(photo(name, side=640), "JPEG")) for name in PHOTOS]
    return [
        {"instruction": "Write a short caption that captures the main components of the image.", "inputs": "",
         "outputs": f"A photo, number {i}, of something worth describing in a sentence.",
         "image_base64_str": [images[i % len(images)]]}
        for i in range(n)
    ]


Batches = list[dict[str, torch.Tensor]]


def seed_way(rows: list[dict], batch: int, tok, processor) -> Batches:
    items = []
    for row in rows:
        text = f'##Instruction: {row["instruction"]} ##Question: {row["inputs"]} ##Answer: {row["outputs"]}'
        image = Image.open(io.BytesIO(base64.b64decode(row["image_base64_str"][0])))
        inputs = tok(text, max_length=512, padding="max_length", truncation=True, return_tensors="pt")
        inputs = {k: v[0] for k, v in inputs.items()}
        inputs["pixel_values"] = processor(images=image, return_tensors="pt")["pixel_values"][0]
        inputs["labels"] = inputs["input_ids"]
        items.append(inputs)
    return [torch.utils.data.default_collate(items[i : i + batch]) for i in range(0, len(items), batch)]


def our_way(rows: list[dict], batch: int, encoder: Encoder, collate: Collator) -> Batches:
    items = [encoder(row_to_sample(row, "bench", str(i), "coco")) for i, row in enumerate(rows)]
    return [collate(items[i : i + batch]) for i in range(0, len(items), batch)]


def text_width(batches: Batches) -> float:
    """Text positions per sample (padding included)."""
    return sum(b["input_ids"].numel() for b in batches) / sum(len(b["input_ids"]) for b in batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=96)
    parser.add_argument("--batch", type=int, default=8)
    add_repeats_argument(parser)
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = m3it_rows(args.rows)
    tok = tokenizer("gpt2")
    tok.pad_token = tok.eos_token  # the seed pads to max_length, so it needs one
    processor = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    runs = {"seed": lambda: seed_way(rows, args.batch, tok, processor),
            "ours": lambda: our_way(rows, args.batch, Encoder(tok, processor), Collator.for_tokenizer(tok))}
    widths = {name: text_width(run()) for name, run in runs.items()}  # also the warm-up
    times = interleaved(runs, args.repeats, warmup=0)
    print(f"rows {args.rows} (JPEG, longest side 640), batch {args.batch}, CLIP 224, torch threads 2 "
          "(median, min-max over rounds)")
    for label, name in (("seed's way: ", "seed"), ("gitllm.data:", "ours")):
        rate = spread([args.rows / s for s in times[name]])
        print(f"{label} {rate.show(1, ' samples/s')}, {widths[name]:5.1f} text positions per sample")
    print(f"ratio: {ratio(times['seed'], times['ours']).show(2, 'x')} (goal >= 2x)")


if __name__ == "__main__":
    main()
