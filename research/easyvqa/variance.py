"""How much of each layer's feature variance colour / shape explain (between-class / total), per pooling.

A linear probe only says a direction exists; a small share of variance means a plain linear projection has
to grow large weights to make that direction count. Usage: python variance.py SIZE"""

from __future__ import annotations

import sys

import torch


def explained(x: torch.Tensor, y: torch.Tensor) -> float:
    keep = y >= 0
    x, y = x[keep], y[keep]
    x = x - x.mean(0)
    between = sum(((y == c).sum() * x[y == c].mean(0).pow(2).sum()).item() for c in y.unique())
    return between / max(x.pow(2).sum().item(), 1e-9)


def main(size: int) -> None:
    data = torch.load(f"/tmp/evqa_feats_{size}.pt")["train"]
    print("layer pool colour shape")
    for layer in range(data["hidden"].shape[1]):
        h = data["hidden"][:, layer].float()
        for name, x in (("cls", h[:, 0]), ("mean", h[:, 1:].mean(1)), ("patch", h[:, 1:].flatten(0, 1))):
            reps = 1 if name != "patch" else h.shape[1] - 1
            c = explained(x, data["colour"].repeat_interleave(reps))
            s = explained(x, data["shape"].repeat_interleave(reps))
            print(f"{layer:2d} {name:5s} {c:.3f} {s:.3f}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
