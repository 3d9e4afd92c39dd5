"""Linear probes (colour, shape) on cached DINOv2 features, per layer and pooling. Usage: python probe.py SIZE"""

from __future__ import annotations

import os
import sys

import torch


def fit(x: torch.Tensor, y: torch.Tensor, xt: torch.Tensor, yt: torch.Tensor, classes: int) -> float:
    """Test accuracy of a logistic regression trained with Adam (standardised inputs)."""
    keep, keept = y >= 0, yt >= 0
    x, y, xt, yt = x[keep], y[keep], xt[keept], yt[keept]
    mu, sd = x.mean(0), x.std(0) + 1e-5
    x, xt = (x - mu) / sd, (xt - mu) / sd
    layer = torch.nn.Linear(x.shape[1], classes)
    opt = torch.optim.Adam(layer.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(layer(x), y).backward()
        opt.step()
    return (layer(xt).argmax(-1) == yt).float().mean().item()


def main(size: int) -> None:
    torch.set_num_threads(int(__import__("os").environ.get("THREADS", "2")))
    data = torch.load(f"/tmp/evqa_feats_{size}.pt")
    tr, te = data["train"], data["test"]
    print("labelled train colour/shape:", (tr["colour"] >= 0).sum().item(), (tr["shape"] >= 0).sum().item())
    pools = {
        "cls": lambda h: h[:, 0],
        "mean": lambda h: h[:, 1:].mean(1),
        "max": lambda h: h[:, 1:].amax(1),
    }
    print("layer pool colour shape")
    layers = os.environ.get("LAYERS")
    for layer in map(int, layers.split(",")) if layers else range(tr["hidden"].shape[1]):
        for name, pool in pools.items():
            x, xt = pool(tr["hidden"][:, layer].float()), pool(te["hidden"][:, layer].float())
            c = fit(x, tr["colour"], xt, te["colour"], 8)
            s = fit(x, tr["shape"], xt, te["shape"], 3)
            print(f"{layer:2d} {name:4s} {c:.3f} {s:.3f}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
