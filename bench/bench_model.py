"""Issue 2 speed targets on shape `bench-small` (see ../shared/notes/benchmarks.md), against the HF Llava peer.

Both models are built from the same CLIP and Llama configs with random weights (seed 0), frozen, with PEFT
LoRA r=8 alpha=32 on q/k/v of the LLM and the projection trainable; AdamW; fp32; 2 threads. Steps of the two
models are interleaved so that both see the same machine load; each figure is the median over the rounds with
its min-max, each ratio the median of per-round ratios (bench/repeats.py).

Prints: training samples/s (ratio, goal >= 1.3x), greedy decode tokens/s at batch 1 (ratio, goal >= 1.1x),
our batch-8 decode throughput over batch 1 (goal >= 5x), and the fraction of the measured matmul peak.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from peft import LoraConfig, get_peft_model
from torch.utils.flop_counter import FlopCounterMode
from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM, LlavaConfig
from transformers import LlavaForConditionalGeneration

from gitllm import GitLLMConfig, GitLLMForCausalLM
from gitllm.machine import matmul_peak
from repeats import add_repeats_argument, interleaved, ratio, spread

BATCH, TEXT, PROMPT, NEW_TOKENS, VOCAB = 8, 64, 16, 64, 32000
LORA = dict(r=8, lora_alpha=32, lora_dropout=0.0)


def vision_config() -> CLIPVisionConfig:
    return CLIPVisionConfig(image_size=224, patch_size=16, hidden_size=384, intermediate_size=1536,
                            num_hidden_layers=6, num_attention_heads=6)


def llama_config(vocab: int = VOCAB) -> LlamaConfig:
    return LlamaConfig(vocab_size=vocab, hidden_size=512, intermediate_size=1376, num_hidden_layers=8,
                       num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=1024,
                       pad_token_id=0, bos_token_id=1, eos_token_id=2)


def build_gitllm(attn: str = "sdpa") -> torch.nn.Module:
    torch.manual_seed(0)
    vision = CLIPVisionModel._from_config(vision_config(), attn_implementation=attn)
    llm = LlamaForCausalLM._from_config(llama_config(), attn_implementation=attn)
    config = GitLLMConfig(vision_config=vision.config, text_config=llm.config)
    model = GitLLMForCausalLM(config, vision_model=vision, language_model=llm)
    lora = LoraConfig(target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj)",
                      modules_to_save=["visual_projection"], **LORA)
    return get_peft_model(model, lora)


def build_llava() -> torch.nn.Module:
    torch.manual_seed(0)
    config = LlavaConfig(vision_config=vision_config(), text_config=llama_config(VOCAB + 1),
                         vision_feature_select_strategy="full", vision_feature_layer=-1, image_token_index=VOCAB,
                         image_seq_length=197)
    config._attn_implementation = "sdpa"
    model = LlavaForConditionalGeneration(config)
    lora = LoraConfig(target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj)",
                      modules_to_save=["multi_modal_projector"], **LORA)
    return get_peft_model(model, lora)


def gitllm_batch(batch: int, text: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(3, VOCAB, (batch, text), generator=generator)
    input_ids[:, 0] = 1
    return {"pixel_values": torch.randn(batch, 3, 224, 224, generator=generator), "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids)}


def llava_batch(batch: int, text: int) -> dict[str, torch.Tensor]:
    ours = gitllm_batch(batch, text)
    image_tokens = torch.full((batch, 197), VOCAB)
    input_ids = torch.cat([image_tokens, ours["input_ids"]], dim=1)
    return {"pixel_values": ours["pixel_values"], "input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: dict, labels: torch.Tensor) -> None:
    loss = model(**batch, labels=labels).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def step_flops(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_repeats_argument(parser)
    parser.add_argument("--only", choices=("train", "decode"), help="measure one of the two (default: both)")
    parser.add_argument("--attn", default="sdpa", choices=("sdpa", "eager"),
                        help="gitllm's attention implementation (the peer always uses sdpa)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    peak = matmul_peak()
    print(f"matmul peak (fp32, 2 threads): {peak / 1e9:.0f} GFLOP/s")
    ours, peer = build_gitllm(args.attn), build_llava()
    if args.only != "decode":
        bench_training(ours, peer, args.repeats, peak)
    if args.only != "train":
        bench_decode(ours, peer, args.repeats)


def bench_training(ours: torch.nn.Module, peer: torch.nn.Module, repeats: int, peak: float) -> None:
    ours_batch, peer_batch = gitllm_batch(BATCH, TEXT), llava_batch(BATCH, TEXT)
    ours_labels = ours_batch["input_ids"]
    peer_labels = peer_batch["input_ids"].masked_fill(peer_batch["input_ids"] == VOCAB, -100)
    ours_opt = torch.optim.AdamW([p for p in ours.parameters() if p.requires_grad], lr=1e-4)
    peer_opt = torch.optim.AdamW([p for p in peer.parameters() if p.requires_grad], lr=1e-4)
    ours.train(), peer.train()

    def ours_step() -> None:
        train_step(ours, ours_opt, ours_batch, ours_labels)

    def peer_step() -> None:
        train_step(peer, peer_opt, peer_batch, peer_labels)

    flops = {"gitllm": step_flops(ours_step), "llava": step_flops(peer_step)}
    times = interleaved({"gitllm": ours_step, "llava": peer_step}, repeats)
    print(f"training step, batch {BATCH} x {TEXT} text tokens + 197 image tokens (median, min-max over rounds):")
    for name, seconds in times.items():
        step_s = spread(seconds).median
        print(f"  {name:7s} {spread(seconds).show(2, ' s/step')}  {BATCH / step_s:5.2f} samples/s  "
              f"{flops[name] / 1e9:6.0f} GFLOP/step  {flops[name] / step_s / 1e9:5.0f} GFLOP/s = "
              f"{flops[name] / step_s / peak:4.0%} of peak")
    print(f"  training samples/s ratio gitllm/llava: {ratio(times['llava'], times['gitllm']).show(2, 'x')} "
          "(goal >= 1.3x)")


def bench_decode(ours: torch.nn.Module, peer: torch.nn.Module, repeats: int) -> None:
    ours.eval(), peer.eval()
    generate = dict(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0)
    one, one_peer, eight = gitllm_batch(1, PROMPT), llava_batch(1, PROMPT), gitllm_batch(8, PROMPT)
    runs = {
        "gitllm": lambda: ours.generate(**one, **generate),
        "llava": lambda: peer.generate(**one_peer, **generate),
        "gitllm_b8": lambda: ours.generate(**eight, **generate),
    }
    with torch.no_grad():
        times = interleaved(runs, repeats)
    print(f"greedy decode, {PROMPT}-token prompt after 197 image tokens, {NEW_TOKENS} new tokens "
          "(median, min-max over rounds):")
    for key, seconds in times.items():
        tokens = (8 if key.endswith("b8") else 1) * NEW_TOKENS
        print(f"  {key:9s} {spread([tokens / s for s in seconds]).show(1, ' tokens/s')}")
    print(f"  decode batch-1 ratio gitllm/llava: {ratio(times['llava'], times['gitllm']).show(2, 'x')} (goal >= 1.1x)")
    b8_over_b1 = ratio([8 * s for s in times["gitllm"]], times["gitllm_b8"])
    print(f"  gitllm batch-8 / batch-1 throughput: {b8_over_b1.show(2, 'x')} (goal >= 5x)")


if __name__ == "__main__":
    main()
