"""`gitllm chat | ask | serve | visual-words`: talk to a model, serve it, look inside it."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from gitllm.data import TEMPLATES

MODEL_HELP = "model folder (saved model + processor), a training run's adapter folder, or VISION+LLM zoo halves"


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
    ask.add_argument("--out", help="answers JSONL for batch mode (default: standard output)")
    ask.add_argument("--batch-size", type=int, default=8, help="prompts generated together (left-padded)")
    ask.set_defaults(func=run_ask)

    serve = subparsers.add_parser("serve", help="web playground + OpenAI-compatible /v1/chat/completions")
    _model_args(serve, generation=False)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--max-body-mb", type=float, default=16.0, help="largest request body")
    serve.add_argument("--max-pixels", type=int, default=4096 * 4096, help="largest decoded image")
    serve.add_argument("--max-waiting", type=int, default=64, help="requests queued for the model (503 beyond)")
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
    from gitllm.play.batch import answer_all, read_questions
    from gitllm.infer.generate import ask

    if bool(args.image) == bool(args.input):
        print("error: give either --image IMAGE \"question\" or --input FOLDER|ROWS.jsonl", file=sys.stderr)
        return 2
    if args.image and not (args.question or "").strip():
        print("error: the question is empty: ask something about the image", file=sys.stderr)
        return 2
    settings = _settings(args)
    fill_prompt_defaults(args)
    rows = read_questions(args.input, args.question, args.instruction) if args.input else []
    model, processor = _load(args)
    if args.image:
        print(ask(model, processor, [args.image], [args.question], args.template, args.instruction,
                  **vars(settings))[0])
        return 0
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") if args.out else contextlib.nullcontext(sys.stdout) as out:
        count = answer_all(model, processor, rows, out, args.template, settings, args.batch_size)
    print(f"answered {count} questions" + (f" -> {args.out}" if args.out else ""), file=sys.stderr)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from gitllm.play.server import Limits, Playground, make_server

    model, processor = _load(args)
    limits = Limits(int(args.max_body_mb * 2**20), args.max_pixels, args.max_waiting)
    playground = Playground(model, processor, args.template, args.instruction, Path(args.model).name, limits)
    server = make_server(playground, args.host, args.port)
    print(f"gitllm playground on http://{args.host}:{server.server_port}/ (Ctrl-C to stop)", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


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
