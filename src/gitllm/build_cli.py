"""`gitllm build`: join a pretrained vision encoder and a pretrained LLM into a GIT-LLM folder.

Lives outside `gitllm.model`: importing that package loads torch and transformers, and `--help` must not."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("build", help="build a GIT-LLM from a vision encoder and an LLM and save it")
    parser.add_argument("--vision", required=True, help="hub id, local folder or zoo name (e.g. dinov2-small)")
    parser.add_argument("--llm", required=True, help="hub id, local folder or zoo name (e.g. smollm2-135m-instruct)")
    parser.add_argument("--projection", default="git",
                        help="visual projection id: git (Linear + LayerNorm, as GIT; default), mlp2x_gelu (LLaVA-1.5), "
                        "git_mean, git_cls (one image token); an unknown id is an error listing the known ones")
    parser.add_argument("--drop-cls", action="store_true", help="do not keep the vision CLS token(s)")
    parser.add_argument("--vision-feature-layer", type=int, default=-1)
    parser.add_argument("--prefix", default="", help="LLM text before the image, e.g. '<|im_start|>' (its BOS): "
                        "takes the attention-sink position so the image is read")
    parser.add_argument("--word-scale", action="store_true",
                        help="start image tokens at the scale of the LLM's word embeddings (projection LayerNorm gain)")
    parser.add_argument("--out", required=True, help="output folder (model + processor)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gitllm.model.modeling import GitLLMForCausalLM
    from gitllm.model.processor import GitLLMProcessor

    processor = GitLLMProcessor.from_parts(args.vision, args.llm)
    model = GitLLMForCausalLM.from_pretrained_parts(
        vision=args.vision,
        llm=args.llm,
        projection=args.projection,
        keep_cls=not args.drop_cls,
        vision_feature_layer=args.vision_feature_layer,
        prefix_token_ids=processor.token_ids(args.prefix),
        word_scale=args.word_scale,
    )
    model.save_pretrained(args.out)
    processor.save_pretrained(args.out)
    print(args.out)
    return 0
