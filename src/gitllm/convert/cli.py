"""`gitllm convert heron SRC OUT`: a heron GIT-LLM checkpoint folder as a gitllm folder."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    convert = subparsers.add_parser("convert", help="import another codebase's checkpoint as a gitllm folder")
    sources = convert.add_subparsers(dest="convert_source", required=True)
    heron = sources.add_parser("heron", help="turingmotors/heron GIT-LLM (git_llama, git_opt, git_mpt, git_gpt_neox)")
    heron.add_argument("src", help="heron checkpoint folder (config.json + model.safetensors or pytorch_model.bin)")
    heron.add_argument("out", help="output folder, loadable with AutoModelForCausalLM after `import gitllm`")
    heron.add_argument("--vision-config", metavar="DIR",
                       help="folder with the CLIP config of heron's vision_model_name, when that is not reachable")
    heron.set_defaults(func=run_heron)


def run_heron(args: argparse.Namespace) -> int:
    from gitllm.convert.heron import from_heron, heron_processor

    model = from_heron(args.src, vision_config=args.vision_config)
    model.save_pretrained(args.out)
    processor = heron_processor(args.src, vision_config=args.vision_config)
    if processor is None:
        print(f"{args.src} has no tokenizer: save the LLM's tokenizer into {args.out} to get a processor")
    else:
        processor.save_pretrained(args.out)
    print(args.out)
    return 0
