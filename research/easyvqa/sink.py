"""Is the single image token an attention sink? Attention from the answer cue to position 0, per layer, in the
pretrained SmolLM2 (eager attention), with position 0 = a random projected-image-like vector at the LayerNorm
scale (norm ~24), at the word-embedding scale (norm ~3.2), or a real word. Usage: python sink.py"""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from gitllm.zoo import resolve


def main() -> None:
    torch.manual_seed(0)
    path = resolve("smollm2-135m-instruct")
    tok = AutoTokenizer.from_pretrained(path)
    lm = AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager").eval()
    ids = tok(" Question: what color is the shape? Answer:", return_tensors="pt")["input_ids"]
    embed = lm.get_input_embeddings()
    text = embed(ids)
    word = embed(tok(" red", return_tensors="pt")["input_ids"])
    noise = torch.nn.functional.layer_norm(torch.randn(1, 1, text.shape[-1]), (text.shape[-1],))
    firsts = {"image-like, norm 24": noise, "image-like, norm 3.2": noise * 0.135, "the word ' red'": word}
    for name, first in firsts.items():
        with torch.no_grad():
            out = lm(inputs_embeds=torch.cat([first, text], 1), output_attentions=True)
        mass = [a[0, :, -1, 0].mean().item() for a in out.attentions]
        print(f"{name:22s} attention on position 0 by layer:", " ".join(f"{m:.2f}" for m in mass))


if __name__ == "__main__":
    main()
