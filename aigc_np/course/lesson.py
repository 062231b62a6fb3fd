"""What every lesson does before and after its chapter: the common options, and the RESULT line.

Every lesson takes ``--quick`` (a smoke run of a few seconds), ``--out`` (its
folder of figures and runs), ``--seed`` and ``--threads``; a lesson adds its
own options to the parser before parsing. :func:`parse_lesson_args` parses
with ``parse_known_args``, so a notebook kernel's own arguments are ignored,
and sends a ``--quick`` run's files under ``out/quick/`` so that a smoke test
never overwrites a real run. :func:`print_result` prints the one line
``RESULT lesson NN: ...`` that the README's tables quote.
"""
from __future__ import annotations

import argparse
import os

from ..threads import apply_threads

__all__ = ["lesson_parser", "parse_lesson_args", "print_result"]


def lesson_parser(doc: str, out: str, threads: str = "auto") -> argparse.ArgumentParser:
    """A parser described by the first line of ``doc``, with --quick, --out (default ``out``),
    --seed (default 0) and --threads (default ``threads``)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for smoke tests")
    parser.add_argument("--out", default=out, help="folder for figures and training runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", default=threads, help="BLAS threads (auto: 1 on a busy machine, else all)")
    return parser


def parse_lesson_args(parser: argparse.ArgumentParser, argv=None, by_recipe: bool = False) -> argparse.Namespace:
    """Parse (ignoring unknown arguments), set and print the BLAS threads, move a --quick
    run's default folder to out/quick/..., and create the folder.

    by_recipe: the parser has --recipe; a recipe other than "default" gets its own default
    folder, OUT_NAME, so that comparing recipes never overwrites the lesson's run.
    """
    args = parser.parse_known_args(argv)[0]
    print(apply_threads(args.threads))
    default = args.out == parser.get_default("out")
    if args.quick and default:
        args.out = args.out.replace("out/", "out/quick/", 1)  # a smoke test never overwrites a real run
    if by_recipe and args.recipe != "default" and default:
        args.out += f"_{args.recipe}"
    os.makedirs(args.out, exist_ok=True)
    return args


def result_line(args: argparse.Namespace, lesson: str, text: str, reproduce: str) -> str:
    """The text :func:`print_result` prints: a --quick run says its numbers are not results,
    and its "Reproduce:" command ends in --quick."""
    return (("\n(--quick smoke test: numbers are not results)" if args.quick else "")
            + f"\nRESULT lesson {lesson}: {text}. Reproduce: {reproduce}" + (" --quick" if args.quick else ""))


def print_result(args: argparse.Namespace, lesson: str, text: str, reproduce: str) -> None:
    """Print ``RESULT lesson NN: text. Reproduce: command`` (see :func:`result_line`)."""
    print(result_line(args, lesson, text, reproduce))
