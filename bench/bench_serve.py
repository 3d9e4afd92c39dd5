"""`gitllm serve` under 8 concurrent clients: continuous batching against the same server with `--max-batch 1`.

Starts the real server (a `gitllm serve` subprocess on loopback) twice on the same model, `--max-batch 8`
then `--max-batch 1`, and sends each the same mixed workload (`VISION+LLM` halves are joined once, seed 0,
and saved, so that both servers load the same projection): `--clients` concurrent clients share
`--requests` chat completions of varied questions, images and `max_tokens` (greedy, so both servers must
give the same answers). Prints aggregate generated tokens/s, p50/p95 request latency, their ratio (goal
>= 3x) and how many answers differ between the two servers.

    python bench/bench_serve.py [--model dinov2-small+smollm2-135m-instruct] [--clients 8] [--requests 64]
                                [--max-tokens 4,8,12,16,24,32] [--autocast float32|bfloat16]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

QUESTIONS = ["What shape is this?", "What color is the shape?", "Is there a circle?",
             "Describe the image in a few words.", "What is in the middle of the picture, and what colour is it?",
             "Is this a cat or a dog?", "How many objects can you see?", "What is the background colour?"]
MAX_TOKENS = [4, 8, 12, 16, 24, 32]  # short answers: prefill (257 image tokens at 224 px) weighs most


def image_url(seed: int) -> str:
    pixels = np.random.default_rng(seed).integers(0, 255, (64 + 16 * (seed % 4), 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def workload(count: int, max_tokens: list[int]) -> list[dict]:
    images = [image_url(seed) for seed in range(8)]
    return [{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": images[i % 8]}},
                                                       {"type": "text", "text": QUESTIONS[(i * 3) % 8]}]}],
             "max_tokens": max_tokens[i % len(max_tokens)]} for i in range(count)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: str, max_batch: int, autocast: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-c", "import sys; from gitllm.cli import main; sys.exit(main())", "serve",
               "--model", model, "--port", str(port), "--max-batch", str(max_batch), "--max-waiting", "256",
               "--autocast", autocast]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=5):
                return server, url
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(f"server exited with {server.returncode}") from None
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("server did not start in 600 s")


def post(url: str, body: dict) -> tuple[float, dict]:
    request = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=3600) as response:
        answer = json.loads(response.read())
    return time.perf_counter() - start, answer


def run(model: str, max_batch: int, bodies: list[dict], clients: int, autocast: str) -> dict:
    server, url = start_server(model, max_batch, autocast)
    try:
        post(url, bodies[0])  # warm-up (decode layout, allocator)
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            results = list(pool.map(lambda body: post(url, body), bodies))
        wall = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=60)
    latencies = sorted(seconds for seconds, _ in results)
    tokens = sum(answer["usage"]["completion_tokens"] for _, answer in results)
    return {"tokens_per_s": tokens / wall, "tokens": tokens, "wall_s": wall,
            "p50": statistics.median(latencies), "p95": latencies[int(0.95 * (len(latencies) - 1))],
            "answers": [answer["choices"][0]["message"]["content"] for _, answer in results]}


def saved_model(model: str, folder: str) -> str:
    """`model` itself when it is a folder; `VISION+LLM` halves joined (projection seeded) and saved in `folder`."""
    if os.path.isdir(model):
        return model
    import torch

    from gitllm.play.loader import load_model

    torch.manual_seed(0)
    joined, processor = load_model(model)
    joined.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dinov2-small+smollm2-135m-instruct")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--max-tokens", default=",".join(map(str, MAX_TOKENS)),
                        help="max_tokens of the requests, in turn (default: %(default)s)")
    parser.add_argument("--autocast", default="float32", choices=("float32", "bfloat16"), help="both servers'")
    args = parser.parse_args()
    bodies = workload(args.requests, [int(n) for n in args.max_tokens.split(",")])
    print(f"model {args.model}; {args.clients} clients x {args.requests} requests, max_tokens {args.max_tokens}; "
          f"autocast {args.autocast}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
          f"load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        model = saved_model(args.model, folder)
        batched = run(model, 8, bodies, args.clients, args.autocast)
        single = run(model, 1, bodies, args.clients, args.autocast)
    for name, result in (("--max-batch 8", batched), ("--max-batch 1", single)):
        print(f"{name}: {result['tokens_per_s']:.1f} generated tokens/s ({result['tokens']} tokens in "
              f"{result['wall_s']:.1f} s), latency p50 {result['p50']:.2f} s, p95 {result['p95']:.2f} s")
    differ = sum(a != b for a, b in zip(batched["answers"], single["answers"]))
    print(f"batching speed-up: {batched['tokens_per_s'] / single['tokens_per_s']:.2f}x (goal >= 3x); "
          f"greedy answers that differ: {differ} of {len(bodies)}; load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
