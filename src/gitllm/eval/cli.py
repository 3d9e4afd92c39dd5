"""`gitllm eval --model M --data SRC`: metrics JSON, answers and an HTML gallery."""

from __future__ import annotations

import argparse
import json

from gitllm.data import READERS, TEMPLATES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="loss/perplexity, VQA exact match, caption BLEU-4/CIDEr, gallery")
    parser.add_argument("--model", required=True, help="model folder, adapter folder or VISION+LLM halves")
    parser.add_argument("--data", required=True, help="file, folder, 'easyvqa:test', ... (see gitllm data check)")
    parser.add_argument("--format", choices=sorted(READERS), help="default: detected from --data")
    parser.add_argument("--instruction", help="for readers that take one (easy-VQA); default: the run's")
    parser.add_argument("--template", choices=sorted(TEMPLATES), help="default: the run's, else git-llm")
    parser.add_argument("--limit", type=int, default=200, help="samples evaluated (first N)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"), help="weights")
    parser.add_argument("--autocast", choices=("bfloat16",),
                        help="compute in this dtype with float32 weights (CPU: 2.8x the answers/s of bf16 weights)")
    parser.add_argument("--out-dir", default="eval", help="metrics.json, answers.jsonl, gallery.html")
    parser.add_argument("--feature-cache", action="store_true",
                        help="encode each distinct image once and keep its features on disk for later evaluations")
    parser.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from gitllm.eval.evaluate import evaluate, load_samples
    from gitllm.play.generate import GenerationSettings
    from gitllm.play.cli import fill_prompt_defaults
    from gitllm.play.loader import compute_in, load_model

    fill_prompt_defaults(args)
    options = {"instruction": args.instruction} if args.instruction else {}
    model, processor = load_model(args.model, args.dtype)
    samples, policy = load_samples(args.data, args.format, args.limit, model.config.num_image_with_embedding,
                                   **options)
    policy.report()
    with compute_in(args.autocast):
        metrics = evaluate(model, processor, samples, args.template,
                           GenerationSettings(max_new_tokens=args.max_new_tokens), args.batch_size, args.out_dir,
                           feature_cache=args.feature_cache)
    print(json.dumps(metrics, indent=2))
    print(f"metrics, answers and gallery -> {args.out_dir}/")
    return 0
