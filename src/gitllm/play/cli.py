"""`gitllm chat | ask | serve | visual-words`: talk to a model, serve it, look inside it."""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
from pathlib import Path

from gitllm.cli_args import positive_int
from gitllm.data import TEMPLATES, load_image

MODEL_HELP = ("a model folder (saved model + processor, e.g. `gitllm merge` output), a `gitllm train` run folder "
              "(or its final/ or checkpoint-N/), or VISION+LLM zoo halves such as dinov2-small+smollm2-135m-instruct")


def register(subparsers: argparse._SubParsersAction) -> None:
    chat = subparsers.add_parser("chat", help="terminal chat about an image, answers streamed")
    _model_args(chat, generation=True)
    chat.add_argument("--image", action="append", help="the first image (or /image PATH in the chat); repeat for "
                      "several images, read together as frames in order")
    chat.set_defaults(func=run_chat)

    ask = subparsers.add_parser("ask", help="answer a question about an image, or a folder / JSONL of them")
    _model_args(ask, generation=True)
    ask.add_argument("question", nargs="?", help="the question (default for --input rows without one)")
    ask.add_argument("--image", action="append", help="an image to ask about; repeat for several, read together "
                     "as frames in order")
    ask.add_argument("--input", help="a folder of images or a JSONL of {image, question} rows (batch mode)")
    ask.add_argument("--out", help="answers JSONL for batch mode (default: standard output); written whole or "
                     "not at all")
    ask.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    ask.add_argument("--skip-bad", action="store_true", help="skip and count rows that cannot be read (bad JSON, "
                     "missing fields, images that do not load) instead of stopping")
    ask.add_argument("--answer-key", default="answer", help="output field of each answer (input rows must not "
                     "have it already: pass e.g. --answer-key prediction for rows with reference answers)")
    ask.add_argument("--batch-size", type=positive_int, default=8, help="prompts generated together (left-padded)")
    ask.set_defaults(func=run_ask)

    serve = subparsers.add_parser("serve", help="web playground + OpenAI-compatible /v1/chat/completions")
    _model_args(serve, generation=False)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--max-body-mb", type=float, default=16.0, help="largest request body")
    serve.add_argument("--max-pixels", type=int, default=4096 * 4096, help="largest decoded image")
    serve.add_argument("--max-waiting", type=int, default=64, help="requests queued for the model (503 beyond)")
    serve.add_argument("--max-batch", type=int, default=8, help="requests decoded together (continuous batching)")
    serve.add_argument("--max-prompt-tokens", type=int, default=2048,
                       help="longest prompt (image + text tokens) one request may send")
    serve.add_argument("--max-images", type=int, default=8,
                       help="images one conversation may send, read together as frames (at most the model's "
                            "temporal embeddings when it has them)")
    serve.add_argument("--prefill-chunk", type=int, default=512,
                       help="prompt tokens prefilled between two decode steps (long prompts take turns)")
    serve.add_argument("--timeout", type=float, default=10.0,
                       help="seconds a client has to send its request, and idle connections stay open")
    serve.add_argument("--autocast", choices=("bfloat16", "float32"),
                       help="compute in this dtype with float32 weights (CPU: bfloat16 is several times faster); "
                            "float32 or not given: no autocast")
    serve.add_argument("--api-key", default=None,
                       help="require 'Authorization: Bearer KEY' on /v1/* (default: $GITLLM_API_KEY, else none)")
    serve.set_defaults(func=run_serve)

    words = subparsers.add_parser("visual-words", help="nearest LLM token to each image token, drawn on the image")
    _model_args(words, generation=False)
    words.add_argument("image", nargs="+", help="an image, or several read together as frames")
    words.add_argument("--out", default="visual_words.png", help="overlay PNG to write (OUT-frame<k>.png per frame)")
    words.add_argument("--metric", choices=("cosine", "dot"), default="cosine", help="dot: as the seed did")
    words.add_argument("--top", type=int, default=20, help="rows of the counts table")
    words.add_argument("--sanity-tokens", type=int, default=2048, help="vocabulary rows sampled (0: skip, -1: all)")
    words.set_defaults(func=run_visual_words)


def _model_args(parser: argparse.ArgumentParser, generation: bool) -> None:
    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--template", choices=sorted(TEMPLATES), help="prompt format (default: the run's, else git-llm)")
    parser.add_argument("--instruction", help="the ##Instruction / system text (default: the run's, else none)")
    if generation:
        parser.add_argument("--max-new-tokens", type=int, default=64)
        parser.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
        parser.add_argument("--top-p", type=float, default=1.0)
        parser.add_argument("--num-beams", type=int, default=1)


def fill_prompt_defaults(args: argparse.Namespace) -> None:
    """Unset --template / --instruction become what the model's training run used (see prompt_defaults)."""
    from gitllm.play.loader import prompt_defaults

    template, instruction = prompt_defaults(args.model)
    args.template = args.template or template
    args.instruction = instruction if args.instruction is None else args.instruction


def _load(args: argparse.Namespace):  # -> (model, processor)
    from gitllm.play.loader import load_model

    fill_prompt_defaults(args)
    return load_model(args.model, args.dtype)


def _settings(args: argparse.Namespace):  # -> GenerationSettings
    from gitllm.infer.generate import GenerationSettings

    return GenerationSettings(args.max_new_tokens, args.temperature, args.top_p, args.num_beams)


def run_chat(args: argparse.Namespace) -> int:
    from gitllm.play.chat import ChatSession, run_chat as loop

    session = ChatSession(*_load(args), args.template, args.instruction, _settings(args))
    if args.image:
        session.set_images(args.image)
    loop(session)
    return 0


def run_ask(args: argparse.Namespace) -> int:
    from gitllm.data import RowPolicy
    from gitllm.infer.generate import ask
    from gitllm.play.batch import answer_all, read_questions, replaced_atomically

    if bool(args.image) == bool(args.input):
        raise ValueError('give either --image IMAGE "question" or --input FOLDER|ROWS.jsonl')
    if args.image and not (args.question or "").strip():
        raise ValueError("the question is empty: ask something about the image")
    if args.out and Path(args.out).exists() and not args.overwrite:
        raise ValueError(f"--out {args.out} exists; pass --overwrite to replace it, or pick another file")
    settings = _settings(args)
    fill_prompt_defaults(args)
    policy = RowPolicy(skip_bad=args.skip_bad)
    rows = read_questions(args.input, args.question, args.instruction, policy, args.answer_key) if args.input else []
    frames = [load_image(image) for image in args.image or []]  # a bad image fails before the model loads
    model, processor = _load(args)
    if frames:
        print(ask(model, processor, [frames], [args.question], args.template, args.instruction,
                  **vars(settings))[0])
        return 0
    with replaced_atomically(Path(args.out)) if args.out else contextlib.nullcontext(sys.stdout) as out:
        count = answer_all(model, processor, rows, out, args.template, settings, args.batch_size, policy,
                           args.answer_key)
    policy.report()
    skipped = f", skipped {policy.n_rejected} bad rows" if policy.n_rejected else ""
    print(f"answered {count} questions{skipped}" + (f" -> {args.out}" if args.out else ""), file=sys.stderr)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    import logging
    import os

    from gitllm.play.loader import served_name

    try:
        from gitllm.play.server import API_KEY_ENV, Limits, Playground, make_server
    except ImportError as err:
        raise ImportError(f"gitllm serve needs FastAPI and uvicorn ({err}): pip install 'gitllm[play]'") from None

    # Options and the port are checked before the model loads: a mistake fails in a second, not after loading.
    limits = Limits(int(args.max_body_mb * 2**20), args.max_pixels, args.max_waiting, args.max_batch,
                    args.max_prompt_tokens, args.max_images, args.prefill_chunk, args.timeout,
                    args.api_key or os.environ.get(API_KEY_ENV) or None, args.autocast)
    check_port_free(args.host, args.port)
    logging.basicConfig(level=logging.INFO, format="[gitllm serve] %(levelname)s %(message)s")
    model, processor = _load(args)
    playground = Playground(model, processor, args.template, args.instruction, served_name(args.model), limits)
    print(f"gitllm playground on http://{args.host}:{args.port}/ (API docs at /docs; Ctrl-C to stop)",
          file=sys.stderr)
    make_server(playground, args.host, args.port).run()
    return 0


def check_port_free(host: str, port: int) -> None:
    """ValueError naming the fix when `host:port` cannot be bound (in use, or not an address of this machine);
    binds the way the server will (IPv4, SO_REUSEADDR), then lets go."""
    if port == 0:
        return
    try:
        with socket.socket(socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as err:
        raise ValueError(f"cannot listen on {host}:{port} ({err.strerror or err}): pick another --port, stop the "
                         f"program using it, or pass a --host of this machine") from None


def run_visual_words(args: argparse.Namespace) -> int:
    from gitllm.play.visual_words import frame_path, frame_visual_words

    model, processor = _load(args)
    sanity = None if args.sanity_tokens < 0 else args.sanity_tokens
    results = frame_visual_words(model, processor, args.image, args.out, args.metric, sanity)
    for k, result in enumerate(results):
        title = f"frame {k} ({args.image[k]}): " if len(results) > 1 else ""
        print(title + result.table(args.top))
        print(f"overlay -> {frame_path(args.out, k) if len(results) > 1 else args.out}")
    return 0
