"""Fast easy-VQA training probe on cached DINOv2 features (from features.py): one variant per run.

Trains proj + LoRA (gitllm.train.groups) on chosen feature layer / token selection with bf16 autocast,
then greedy-generates answers for a fixed 500-question test slice. Prints wall and process CPU seconds.
Usage: python lab.py --name NAME [--tokens cls] [--layer 12] [--steps 200] ...
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter

import easy_vqa
import torch
import torch.nn.functional as F

from gitllm.data import Collator, Encoder, read
from gitllm.model import GitLLMForCausalLM, GitLLMProcessor
from gitllm.train.config import LoraSpec
from gitllm.train.groups import apply_groups, trainable_by_group


def select(hidden: torch.Tensor, layer: int, tokens: str, final_norm: torch.nn.Module) -> torch.Tensor:
    """(I, L+1, 1+P, D) fp16 -> (I, N, D) float: one hidden layer (13 = final layernorm), one token selection."""
    h = final_norm(hidden[:, 12].float()) if layer == 13 else hidden[:, layer].float()
    side = int((h.shape[1] - 1) ** 0.5)
    grid = h[:, 1:].transpose(1, 2).reshape(h.shape[0], h.shape[2], side, side)
    pools = {
        "all": lambda: h,
        "patches": lambda: h[:, 1:],
        "cls": lambda: h[:, :1],
        "mean": lambda: h[:, 1:].mean(1, keepdim=True),
        "clsmean": lambda: torch.cat([h[:, :1], h[:, 1:].mean(1, keepdim=True)], 1),
        "zerocls": lambda: torch.cat([torch.zeros_like(h[:, :1]), h[:, :1]], 1),
        "pool2": lambda: F.adaptive_avg_pool2d(grid, 2).flatten(2).transpose(1, 2),
        "pool3": lambda: F.adaptive_avg_pool2d(grid, 3).flatten(2).transpose(1, 2),
    }
    return pools[tokens]().contiguous()


class WordQueries(torch.nn.Module):
    """K queries (B, K, D) = Linear(first token), read against the LLM's word-embedding table."""

    def __init__(self, vision_dim: int, text_dim: int, k: int, embeddings: torch.nn.Embedding) -> None:
        super().__init__()
        self.query = torch.nn.Linear(vision_dim, k * text_dim)
        self.k, self.vocab = k, (embeddings,)  # a tuple: the embedding is not a submodule of the projection

    def queries(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(queries (B, K, D), word table (V, D))."""
        return self.query(features[:, 0]).view(features.shape[0], self.k, -1), self.vocab[0].weight


class SoftWords(WordQueries):
    """(B, N, Dv) -> (B, K, D): K queries from the first token, each a softmax-weighted mix of word embeddings."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        queries, table = self.queries(features)
        return (queries @ table.T.to(queries.dtype)).softmax(-1) @ table.to(queries.dtype)


class HardWords(WordQueries):
    """(B, N, Dv) -> (B, K, D): K real word embeddings chosen from the first (CLS) token. Forward: the LLM word
    whose embedding is nearest (cosine) to query k; backward: straight through (the gradient on the chosen word
    goes to the query, as VQ-VAE's encoder), so the image speaks in words the LLM already reads."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        queries, table = self.queries(features)
        with torch.no_grad():
            words = (F.normalize(queries.float(), dim=-1) @ F.normalize(table.float(), dim=-1).T).argmax(-1)
        self.last_words = words
        return table[words].to(queries.dtype) + queries - queries.detach()


class ClsTokens(torch.nn.Module):
    """(B, N, Dv) -> (B, K, D): K different image tokens from the first (CLS) token: Linear(Dv, K*D), LayerNorm."""

    def __init__(self, vision_dim: int, text_dim: int, k: int) -> None:
        super().__init__()
        self.k, self.linear, self.norm = k, torch.nn.Linear(vision_dim, k * text_dim), torch.nn.LayerNorm(text_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.norm(self.linear(features[:, 0]).view(features.shape[0], self.k, -1))


class Repeated(torch.nn.Module):
    """(B, N, Dv) -> (B, K*M, D): the M tokens of `inner`, repeated K times (more attention on the same image)."""

    def __init__(self, inner: torch.nn.Module, k: int) -> None:
        super().__init__()
        self.inner, self.k = inner, k

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.inner(features).repeat(1, self.k, 1)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--name", required=True)
    p.add_argument("--size", type=int, default=98)
    p.add_argument("--tokens", default="cls")
    p.add_argument("--layer", type=int, default=13)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--bs", type=int, default=32)
    p.add_argument("--lr_proj", type=float, default=1e-3)
    p.add_argument("--lr_lora", type=float, default=5e-4)
    p.add_argument("--r", type=int, default=16)
    p.add_argument("--targets", default="q_proj,v_proj,o_proj,up_proj,down_proj")
    p.add_argument("--warmup", type=float, default=0.05)
    p.add_argument("--template", default="git-llm")
    p.add_argument("--eval_n", type=int, default=500)
    p.add_argument("--groups", default="proj,lora")
    p.add_argument("--prefix", default="", help="text before the image, e.g. '<|im_start|>' (prefix_token_ids)")
    p.add_argument("--oracle", action="store_true", help="perfect perception as text: 'The shape is a red circle.' "
                   "before each question (labels read off the questions; tests whether SmolLM2 + LoRA learns the "
                   "yes/no questions once it knows the colour and shape)")
    p.add_argument("--softwords", type=int, default=0, help="K > 0: the CLS becomes K 'soft words' (softmax over the "
                   "LLM vocabulary of Linear(CLS) . E, times E): image tokens are mixtures of word embeddings")
    p.add_argument("--ntok", type=int, default=0, help="K > 0: K different image tokens from the CLS (ClsTokens)")
    p.add_argument("--hardwords", type=int, default=0, help="K > 0: K real words chosen from the CLS (HardWords)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lora_after", type=int, default=0, help="N > 0: the projection trains alone for N steps "
                   "(LLaVA's alignment stage), then LoRA warms up and decays over the remaining steps")
    p.add_argument("--whiten", default="", choices=("", "std", "zca"), help="standardise each feature dimension "
                   "(std) or decorrelate them too (zca), with statistics of the training images")
    p.add_argument("--repeat", type=int, default=1, help="K > 1: the projected image token(s) repeated K times")
    p.add_argument("--ln_gain", type=float, default=0.0, help="> 0: init the projection LayerNorm gain (-1: embedding std)")
    a = p.parse_args()
    torch.set_num_threads(int(__import__("os").environ.get("THREADS", "2")))
    torch.manual_seed(a.seed)
    random.seed(a.seed)

    proc = GitLLMProcessor.from_parts("dinov2-small", "smollm2-135m-instruct")
    tok = proc.tokenizer
    prefix_ids = proc.token_ids(a.prefix)
    model = GitLLMForCausalLM.from_pretrained_parts("dinov2-small", "smollm2-135m-instruct", dtype=torch.float32,
                                                    prefix_token_ids=prefix_ids)
    data = torch.load(f"/tmp/evqa_feats_{a.size}.pt")
    with torch.no_grad():
        feats = {s: select(data[s]["hidden"], a.layer, a.tokens, model.vision_model.layernorm) for s in data}
    if a.whiten:
        flat = feats["train"].reshape(-1, feats["train"].shape[-1]).double()
        mean, centred = flat.mean(0), flat - flat.mean(0)
        if a.whiten == "std":
            transform = torch.diag(1 / centred.std(0).clamp(min=1e-6))
        else:
            values, vectors = torch.linalg.eigh(centred.T @ centred / len(centred))
            transform = vectors @ torch.diag(values.clamp(min=1e-6).rsqrt()) @ vectors.T
        feats = {s: ((f.double() - mean) @ transform).float() for s, f in feats.items()}
    if a.ntok:
        model.visual_projection = ClsTokens(384, 576, a.ntok)
    if a.ln_gain:
        gain = model.get_input_embeddings().weight.std().item() if a.ln_gain < 0 else a.ln_gain
        model.visual_projection[-1].weight.data.fill_(gain) if a.ntok == 0 else model.visual_projection.norm.weight.data.fill_(gain)
    if a.hardwords:
        model.visual_projection = HardWords(384, 576, a.hardwords, model.get_input_embeddings())
    if a.softwords:
        model.visual_projection = SoftWords(384, 576, a.softwords, model.get_input_embeddings())
    if a.repeat > 1:
        model.visual_projection = Repeated(model.visual_projection, a.repeat)
    names = a.groups.split(",")
    model = apply_groups(model, names, LoraSpec(r=a.r, alpha=2 * a.r, dropout=0.0,
                                                            target_modules=a.targets.split(",")), LoraSpec())
    enc = Encoder(tok, proc.image_processor, a.template, "answer", 64)
    _, _, train_ids = easy_vqa.get_train_questions()
    _, _, test_ids = easy_vqa.get_test_questions()
    train = list(read("easyvqa:train"))
    test = list(read("easyvqa:test"))
    if a.oracle:
        from dataclasses import replace

        from features import COLOURS, SHAPES

        def told(samples: list, ids: list, split: str) -> list:
            out = []
            for s in samples:
                image = ids[int(s.row_id)]
                c, sh = int(data[split]["colour"][image]), int(data[split]["shape"][image])
                said = f"The shape is a {COLOURS[c] if c >= 0 else 'unknown'} {SHAPES[sh] if sh >= 0 else 'shape'}. "
                turns = [replace(t, text=said + t.text) if t.role == "user" else t for t in s.conversation]
                out.append(replace(s, turns=turns))
            return out

        train, test = told(train, train_ids, "train"), told(test, test_ids, "test")
    rows = [enc.text(s) | {"vision_features": feats["train"][train_ids[int(s.row_id)]]} for s in train]
    collate = Collator.for_tokenizer(tok)

    groups = trainable_by_group(model, names)
    opt = torch.optim.AdamW([{"params": [q for _, q in v], "lr": a.lr_proj if g == "proj" else a.lr_lora}
                             for g, v in groups.items()], weight_decay=0.0)
    def shape(start: int):
        span, warm_s = a.steps - start, max(1, int(a.warmup * (a.steps - start)))
        return lambda s: 0.0 if s < start else min((s - start + 1) / warm_s, max(0.0, (a.steps - s) / (span - warm_s)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, [shape(a.lora_after if g == "lora" else 0) for g in groups])
    order = list(range(len(rows)))
    random.shuffle(order)
    wall, cpu, losses = time.time(), time.process_time(), []
    model.train()
    for step in range(a.steps):
        idx = [order[(step * a.bs + k) % len(order)] for k in range(a.bs)]
        batch = collate([rows[i] for i in idx])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(**batch, loss_only=True).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([q for v in groups.values() for _, q in v], 1.0)
        opt.step(); sched.step(); opt.zero_grad()
        losses.append(loss.item())
        if step % 20 == 0 or step == a.steps - 1:
            print(f"step {step} loss {sum(losses[-20:]) / len(losses[-20:]):.4f} wall {time.time() - wall:.0f}s "
                  f"cpu {time.process_time() - cpu:.0f}s", flush=True)
            if a.hardwords:
                words = model.visual_projection.last_words[:6].tolist()
                print("  words:", [[tok.decode([w]) for w in row] for row in words], flush=True)
    train_wall, train_cpu = time.time() - wall, time.process_time() - cpu

    model.eval()
    pick = random.Random(1).sample(range(len(test)), a.eval_n) if a.eval_n < len(test) else range(len(test))
    right, kinds, wall, cpu = 0, Counter(), time.time(), time.process_time()
    pick = list(pick)
    for b in range(0, len(pick), 64):
        chunk = [test[i] for i in pick[b : b + 64]]
        prompts = [enc.tokenize([(enc.render(s.instruction, s.conversation[:-1], tok, True), False)])[0] for s in chunk]
        width = max(map(len, prompts))
        ids = torch.tensor([[tok.pad_token_id] * (width - len(x)) + x for x in prompts])
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in prompts])
        vf = torch.stack([feats["test"][test_ids[int(s.row_id)]] for s in chunk])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model.generate(input_ids=ids, attention_mask=mask, vision_features=vf, max_new_tokens=4,
                                 do_sample=False, pad_token_id=tok.pad_token_id)
        for s, seq in zip(chunk, out):
            ok = tok.decode(seq, skip_special_tokens=True).strip() == s.outputs
            q = s.inputs
            kind = "what" if q.startswith("what") else ("neg" if (" not " in q or " no " in q) else "yes/no")
            kinds[kind, ok] += 1
            right += ok
    acc = right / len(pick)
    per = {k: round(kinds[k, True] / max(1, kinds[k, True] + kinds[k, False]), 3) for k in ("what", "yes/no", "neg")}
    result = dict(name=a.name, **{k: v for k, v in vars(a).items() if k != "name"}, acc=acc, per_kind=per,
                  final_loss=sum(losses[-20:]) / 20, train_wall=round(train_wall), train_cpu=round(train_cpu),
                  eval_wall=round(time.time() - wall), eval_cpu=round(time.process_time() - cpu))
    print(json.dumps(result), flush=True)
    with open("lab_results.jsonl", "a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
