"""`gitllm demo`: zoo -> train on easy-VQA -> evaluate -> ask -> visual words -> loss curve, one command."""

from __future__ import annotations

import argparse

from gitllm.demo.run import RECIPE, TRAIN_BUDGET_S, run_demo, summary


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="zoo -> train on easy-VQA -> evaluate -> ask -> visual words")
    parser.add_argument("--out-dir", default="runs/demo")
    parser.add_argument("--config", default=RECIPE,
                        help="training recipe: a shipped recipe's name (gitllm recipes list) or a YAML file")
    parser.add_argument("overrides", nargs="*", help="training-config key=value overrides, e.g. max_steps=10")
    parser.add_argument("--retrain", action="store_true", help="train again even if OUT_DIR/run has a model")
    parser.add_argument("--seed", type=int, help="training seed (data order, projection and LoRA init; recipe: 0)")
    parser.add_argument("--budget", type=float, default=TRAIN_BUDGET_S,
                        help="safety net: training stops after this many seconds even if steps remain (the summary "
                             "then says so); the recipe's max_steps normally end it (default %(default)s)")
    parser.add_argument("--eval-limit", type=int, help="evaluate the first N test questions only (default all)")
    parser.add_argument("--eval-batch-size", type=int, default=256,
                        help="test questions answered together (default: %(default)s)")
    parser.add_argument("--autocast", default="bfloat16", choices=("bfloat16", "float32"),
                        help="eval and play compute: fp32 weights under bf16 autocast (default), or plain fp32")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    overrides = [*args.overrides, *([f"seed={args.seed}"] if args.seed is not None else [])]
    result = run_demo(args.out_dir, args.config, overrides, args.retrain, args.budget, args.eval_limit,
                      args.eval_batch_size, args.autocast)
    print(summary(result))
    return 0
