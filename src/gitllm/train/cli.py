"""`gitllm train CONFIG [key=value ...]`, `gitllm merge RUN_DIR OUT`, `gitllm plot RUN_DIR... --out PNG`,
`gitllm recipes list|show NAME|path NAME`."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train", help="train a GIT-LLM from a YAML config (key=value overrides)")
    train.add_argument("config", help="a shipped recipe's name (gitllm recipes list) or a YAML file")
    train.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. optim.lr=1e-4 groups=[proj]")
    train.add_argument("--merge", action="store_true", help="also write OUTPUT_DIR/merged, a plain model")
    train.set_defaults(func=_train)

    merge = subparsers.add_parser("merge", help="merge a run's trained weights into a plain GIT-LLM folder")
    merge.add_argument("run_dir")
    merge.add_argument("out")
    merge.add_argument("--checkpoint", help="a checkpoint-N folder inside RUN_DIR (default: final)")
    merge.add_argument("--overwrite", action="store_true", help="write into OUT even when it is not empty")
    merge.set_defaults(func=_merge)

    plot = subparsers.add_parser("plot", help="training and validation loss curves of runs on one PNG")
    plot.add_argument("run_dirs", nargs="+")
    plot.add_argument("--out", required=True, help="PNG path")
    plot.add_argument("--title", default="")
    plot.add_argument("--smooth", type=int, default=1, help="average the training loss over N logged points")
    plot.set_defaults(func=_plot)

    recipes = subparsers.add_parser("recipes", help="the training recipes shipped with gitllm, by name")
    actions = recipes.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every recipe's name (accelerate/...: accelerate launcher configs)")
    show = actions.add_parser("show", help="print a recipe's YAML (copy it to edit your own)")
    show.add_argument("name")
    path = actions.add_parser("path", help="print a recipe's file path (e.g. for accelerate launch --config_file)")
    path.add_argument("name")
    recipes.set_defaults(func=_recipes)


def _train(args: argparse.Namespace) -> int:
    from gitllm.train import close_distributed, load_config, train

    config = load_config(args.config, args.overrides + (["merge=true"] if args.merge else []))
    result = train(config)
    close_distributed()
    print(f"done: {result.steps} steps in {result.seconds:.0f} s, train loss {result.train_loss:.4f}, "
          f"validation loss {result.eval_loss if result.eval_loss is None else round(result.eval_loss, 4)} "
          f"-> {result.output_dir}")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from gitllm.train import merge_run

    print(f"merged model -> {merge_run(args.run_dir, args.out, args.checkpoint, args.overwrite)}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from gitllm.train.plot import plot_runs

    print(f"loss curves -> {plot_runs(args.run_dirs, args.out, args.title, args.smooth)}")
    return 0


def _recipes(args: argparse.Namespace) -> int:
    from gitllm.train.recipes import recipe_names, recipe_path

    if args.action == "list":
        print("\n".join(recipe_names()))
    elif args.action == "show":
        print(recipe_path(args.name).read_text(encoding="utf-8"), end="")
    else:
        print(recipe_path(args.name).resolve())
    return 0
