"""Issue 5 training figures on shape `bench-small` (../shared/notes/benchmarks.md), measured side by side.

1. Training samples/s, fp32: gitllm (groups proj+lora set by gitllm.train, pixels in), gitllm with cached
   vision features (the frozen-encoder cache: the vision tower does not run), and the HF Llava peer.
2. bf16 autocast vs fp32 for gitllm from the same initial weights on the same batch: step-time ratio
   (goal >= 2x on this CPU, which has bf16 instructions) and both loss curves.
3. Peak RSS of a training step with and without gradient checkpointing (each in a fresh process, the two
   alternating).
Steps are interleaved so every variant sees the same machine load; every figure is the median over --repeats
rounds with its min-max, every ratio the median of per-round ratios (bench/repeats.py).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from contextlib import nullcontext

import torch
from transformers import CLIPVisionModel, LlamaForCausalLM

from bench_model import BATCH, TEXT, VOCAB, build_llava, gitllm_batch, llama_config, llava_batch, train_step
from bench_model import vision_config
from gitllm import GitLLMConfig, GitLLMForCausalLM
from gitllm.train import LoraSpec, apply_groups
from repeats import add_repeats_argument, interleaved, ratio, spread

LORA = LoraSpec(r=8, alpha=32, dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj"])


def build(gradient_checkpointing: bool = False) -> torch.nn.Module:
    """bench-small GIT-LLM (seed 0), proj + LoRA trainable through gitllm.train's groups."""
    torch.manual_seed(0)
    vision = CLIPVisionModel._from_config(vision_config(), attn_implementation="sdpa")
    llm = LlamaForCausalLM._from_config(llama_config(), attn_implementation="sdpa")
    model = GitLLMForCausalLM(GitLLMConfig(vision_config=vision.config, text_config=llm.config), vision, llm)
    if gradient_checkpointing:
        model.gradient_checkpointing_enable({"use_reentrant": False})
    return apply_groups(model, ["proj", "lora"], LORA, LORA).train()


def optimizer(model: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)


def step(model: torch.nn.Module, opt: torch.optim.Optimizer, batch: dict, labels: torch.Tensor, bf16: bool) -> float:
    with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
        loss = model(**batch, labels=labels).loss
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.item()


def _status_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in MB."""
    line = next(l for l in open("/proc/self/status") if l.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def rss_child(gradient_checkpointing: bool) -> None:
    """Print (RSS after building, peak RSS during two fp32 training steps) in MB, in a fresh process."""
    torch.set_num_threads(2)
    model = build(gradient_checkpointing)
    opt, batch = optimizer(model), gitllm_batch(BATCH, TEXT)
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset the peak (VmHWM) to the current RSS: building's transient peak is not counted
    base = _status_mb("VmRSS")
    for _ in range(2):
        step(model, opt, batch, batch["input_ids"], bf16=False)
    print(base, _status_mb("VmHWM"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_repeats_argument(parser)
    parser.add_argument("--rss-child", choices=["plain", "checkpointing"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        return rss_child(args.rss_child == "checkpointing")
    torch.set_num_threads(2)

    ours, cached, bf16_model, peer = build(), build(), build(), build_llava()
    batch, peer_batch = gitllm_batch(BATCH, TEXT), llava_batch(BATCH, TEXT)
    labels = batch["input_ids"]
    peer_labels = peer_batch["input_ids"].masked_fill(peer_batch["input_ids"] == VOCAB, -100)
    with torch.no_grad():
        features = cached.get_base_model().encode_images(batch["pixel_values"])
    feature_batch = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
                     "vision_features": features}
    opts = {name: optimizer(m) for name, m in (("ours", ours), ("cached", cached), ("bf16", bf16_model))}
    peer_opt = optimizer(peer)
    peer.train()
    losses: dict[str, list[float]] = {"gitllm fp32": [], "gitllm bf16": []}  # every round, warm-up included
    runs = {
        "gitllm fp32": lambda: losses["gitllm fp32"].append(step(ours, opts["ours"], batch, labels, bf16=False)),
        "gitllm fp32 cached features": lambda: step(cached, opts["cached"], feature_batch, labels, bf16=False),
        "gitllm bf16": lambda: losses["gitllm bf16"].append(step(bf16_model, opts["bf16"], batch, labels, bf16=True)),
        "llava fp32 (peer)": lambda: train_step(peer, peer_opt, peer_batch, peer_labels),
    }
    times = interleaved(runs, args.repeats)

    print(f"training step, bench-small: batch {BATCH} x {TEXT} text tokens + 197 image tokens, groups proj+lora "
          "(median, min-max over rounds)")
    for name, seconds in times.items():
        print(f"  {name:28s} {spread(seconds).show(2, ' s/step')}  {BATCH / spread(seconds).median:6.2f} samples/s")
    peer = times["llava fp32 (peer)"]
    print(f"  samples/s ratio gitllm/llava (fp32, pixels in):      {ratio(peer, times['gitllm fp32']).show(2, 'x')}")
    print(f"  samples/s ratio gitllm cached/llava (fp32):          "
          f"{ratio(peer, times['gitllm fp32 cached features']).show(2, 'x')}")
    print(f"  samples/s ratio gitllm bf16/llava fp32:              {ratio(peer, times['gitllm bf16']).show(2, 'x')}")
    print(f"  bf16 autocast speed-up over fp32 (same run):         "
          f"{ratio(times['gitllm fp32'], times['gitllm bf16']).show(2, 'x')} (goal >= 2x)")
    fp32, bf16 = losses["gitllm fp32"], losses["gitllm bf16"]
    drift = max(abs(a - b) / a for a, b in zip(fp32, bf16))
    print("loss per step, same initial weights, same batch (it is being memorised):")
    print("  fp32: " + " ".join(f"{x:.4f}" for x in fp32))
    print("  bf16: " + " ".join(f"{x:.4f}" for x in bf16))
    print(f"  largest relative difference bf16 vs fp32: {drift:.2%}; fp32 fell by "
          f"{(fp32[0] - fp32[-1]) / fp32[0]:.2%} over the same steps")

    rss: dict[str, list[tuple[float, float]]] = {"plain": [], "checkpointing": []}
    for _ in range(args.repeats):
        for mode in rss:
            out = subprocess.run([sys.executable, __file__, "--rss-child", mode], capture_output=True, text=True,
                                 check=True)
            base, peak = map(float, out.stdout.split()[-2:])
            rss[mode].append((base, peak))
    print("peak RSS of two fp32 training steps (fresh process each; median, min-max over rounds):")
    extra = {mode: [peak - base for base, peak in rounds] for mode, rounds in rss.items()}
    for mode, rounds in rss.items():
        print(f"  {mode:14s} peak {spread([peak for _, peak in rounds]).show(0, ' MB')}, "
              f"{spread(extra[mode]).show(0, ' MB')} above the built model")
    print(f"  training memory above the model, checkpointing/plain: "
          f"{ratio(extra['checkpointing'], extra['plain']).show(2, 'x')}")
    return None


if __name__ == "__main__":
    main()
