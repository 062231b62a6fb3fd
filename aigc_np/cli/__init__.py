"""Command line: ``python -m aigc_np {train,sample,evaluate,serve}`` (also ``aigc-np``), for every kind.

    python -m aigc_np train vae --out runs/vae --quick
    python -m aigc_np sample runs/vae/best.npz --n 100 --out vae.png
    python -m aigc_np train gpt --corpus names --out runs/names
    python -m aigc_np sample runs/names/best.npz --n 200
    python -m aigc_np evaluate runs/vae/best.npz --json
    python -m aigc_np serve runs/vae runs/names --port 8000

One parser serves every kind in the table (``aigc_np.kinds``). Each family
module (``image``, ``diffusion``, ``text``) registers the options it reads;
an option that the kind being trained, sampled or evaluated does not read is
a usage error naming both. Exit codes: 0 success, 2 usage error, 1 any other
error (one line on stderr; ``--debug`` shows the traceback).
"""
from __future__ import annotations

import argparse
import sys

from ..checkpoint import validate_checkpoint
from ..kinds import KINDS
from . import diffusion, image, serve, text
from .common import COMMON, UsageError
from .options import unread
from .train import cmd_train

__all__ = ["main", "build_parser", "OPTIONS", "UsageError"]

FAMILY_CLI = {"image": image, "diffusion": diffusion, "text": text}
OPTIONS = [*COMMON, *image.OPTIONS, *diffusion.OPTIONS, *text.OPTIONS, *serve.OPTIONS]
COMMANDS = {"train": "train a model of any kind (image kinds on the bundled MNIST, text kinds on a corpus)",
            "sample": "draw samples (images or text) from a checkpoint",
            "evaluate": "score a checkpoint's samples against real data (images) or held-out text",
            "serve": "serve checkpoints on a local web page and a JSON API (docs/serve.md)"}


def recipes_epilog() -> str:
    lines = ["kinds and their recipes (--recipe NAME):"]
    for kind in KINDS.values():
        lines.append(f"  {kind.name} ({kind.family.name}): {kind.about}")
        lines += [f"      {name}: {recipe.about}" for name, recipe in kind.recipes.items()]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aigc_np", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:9]))
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}",
                                help="the command (each has its own --help)")
    commands = {}
    for name, help_text in COMMANDS.items():
        commands[name] = sub.add_parser(name, help=help_text, description=help_text,
                                        formatter_class=argparse.RawDescriptionHelpFormatter,
                                        epilog=recipes_epilog() if name == "train" else None)
        commands[name].add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    commands["train"].add_argument("kind", choices=list(KINDS), help="the kind of model (listed below)")
    commands["train"].add_argument("--out", required=True, metavar="DIR",
                                   help="run folder (last.npz, best.npz, history.csv, sample grids)")
    for name in ("sample", "evaluate"):
        commands[name].add_argument("checkpoint", help="a checkpoint file (a run's best.npz or last.npz)")
    serve.add_arguments(commands["serve"])
    for option in OPTIONS:
        for command in option.commands:
            default = False if option.argparse.get("action") == "store_true" else None
            commands[command].add_argument(option.flag, help=option.help, default=default, **option.argparse)
    return parser


def run(args) -> int:
    if args.command == "train":
        problem = unread(args, OPTIONS, args.kind)
        if problem:
            raise UsageError(f"train {args.kind}: {problem}")
        return cmd_train(args, OPTIONS)
    if args.command == "serve":
        return serve.run(args)
    from ..threads import apply_threads
    apply_threads(args.threads)
    meta = validate_checkpoint(args.checkpoint)   # nothing is built before the file is checked
    problem = unread(args, OPTIONS, meta["kind"])
    if problem:
        raise UsageError(f"{args.command} {args.checkpoint}: {problem}")
    family = FAMILY_CLI[KINDS[meta["kind"]].family.name]
    return (family.sample if args.command == "sample" else family.evaluate)(args, meta)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.threads = args.threads or "auto"
    try:
        return run(args)
    except UsageError as e:
        parser.error(str(e))  # usage line and message on stderr, exit code 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    except Exception as e:  # one clear line, not a traceback
        if args.debug:
            raise
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
