"""`gitllm eval --model M --data SRC`: metrics JSON, answers and an HTML gallery."""

from __future__ import annotations

import argparse

from gitllm.cli_args import positive_int
from gitllm.data import READERS, TEMPLATES
from gitllm.play.cli import MODEL_HELP

AUTOCAST = ("bfloat16", "float32")  # as `gitllm demo --autocast`


def sample_limit(text: str) -> int | None:
    """--limit: a positive count, or 'all' (None)."""
    if text.strip().lower() == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of samples or 'all'")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="loss/perplexity, VQA exact match, caption BLEU-4/CIDEr, gallery")
    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("--data", required=True, help="file, folder, 'easyvqa:test', ... (see gitllm data check)")
    parser.add_argument("--format", choices=sorted(READERS), help="detected from --data when not given")
    parser.add_argument("--instruction", help="for readers that take one (easy-VQA); the run's when not given")
    parser.add_argument("--template", choices=sorted(TEMPLATES), help="the run's when not given, else git-llm")
    parser.add_argument("--limit", type=sample_limit, default="all", metavar="N|all",
                        help="evaluate the first N samples only, or all of them (default: %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=8,
                        help="prompts answered together (default: %(default)s)")
    parser.add_argument("--max-new-tokens", type=int, default=32,
                        help="longest answer, in tokens (default: %(default)s)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"), help="weights")
    parser.add_argument("--autocast", choices=AUTOCAST,
                        help="compute in this dtype with float32 weights (CPU: bfloat16 gives 2.8x the answers/s "
                             "of bf16 weights); float32 or not given: no autocast")
    parser.add_argument("--no-blind", dest="blind", action="store_false",
                        help="skip the image-blind score (the questions answered again with the images shuffled "
                             "across questions and with zeroed image features: two more answering passes)")
    parser.add_argument("--out-dir", default="eval",
                        help="where metrics.json, answers.jsonl, gallery.html go (default: %(default)s)")
    parser.add_argument("--feature-cache", action="store_true",
                        help="encode each distinct image once and keep its features on disk for later evaluations")
    parser.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from gitllm.eval.evaluate import evaluate, load_samples
    from gitllm.eval.report import summary
    from gitllm.play.cli import fill_prompt_defaults
    from gitllm.infer.generate import GenerationSettings
    from gitllm.play.loader import compute_in, load_model

    fill_prompt_defaults(args)
    options = {"instruction": args.instruction} if args.instruction else {}
    model, processor = load_model(args.model, args.dtype)
    samples, policy = load_samples(args.data, args.format, args.limit, model.config.num_image_with_embedding,
                                   **options)
    policy.report()
    print(f"gitllm eval: {len(samples)} samples from {args.data}"
          + ("" if args.limit is None else f" (--limit {args.limit})"), flush=True)
    with compute_in(args.autocast):
        metrics = evaluate(model, processor, samples, args.template,
                           GenerationSettings(max_new_tokens=args.max_new_tokens), args.batch_size, args.out_dir,
                           feature_cache=args.feature_cache, blind=args.blind, model_name=args.model)
    print(summary(metrics))
    print(f"metrics, answers and gallery -> {args.out_dir}/")
    return 0
