"""The reference half of docs/cli.md, made from the parser and the table of kinds.

``python -m aigc_np.cli.docs`` prints it; ``--write`` replaces everything
below the marker in docs/cli.md. ``tests/test_cli_docs.py`` keeps the file
identical to what this prints, so the documentation cannot drift from the
command line.
"""
from __future__ import annotations

import argparse
import os
import sys

from ..io import atomic_write
from ..kinds import KINDS
from . import COMMANDS, OPTIONS

__all__ = ["MARKER", "reference_markdown", "main"]

MARKER = "<!-- Everything below is made by `python -m aigc_np.cli.docs --write`; edit the code, not this. -->"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _value(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def reference_markdown() -> str:
    lines = ["## Commands and options", ""]
    for command, about in COMMANDS.items():
        lines += [f"### `{command}`", "", about + ".", "", "| option | read by | what it does |", "|---|---|---|"]
        positional = {"train": [("KIND", "every kind", "the kind of model (below)"),
                                ("--out DIR", "every kind", "run folder (last.npz, best.npz, history.csv, sample grids)")],
                      "sample": [("CHECKPOINT", "every kind", "a checkpoint file (a run's best.npz or last.npz)")],
                      "evaluate": [("CHECKPOINT", "every kind", "a checkpoint file (a run's best.npz or last.npz)")],
                      "serve": [("CKPT_OR_RUN_DIR ...", "every kind", "checkpoint files or run folders (a folder "
                                                                       "means its best.npz)")]}
        rows = positional[command] + [(o.flag + (f" {o.argparse['metavar']}" if "metavar" in o.argparse else ""),
                                       "every kind" if o.kinds is None else ", ".join(o.kinds), o.help)
                                      for o in OPTIONS if command in o.commands]
        rows.append(("--debug", "every kind", "show tracebacks"))
        lines += [f"| `{flag}` | {_cell(kinds)} | {_cell(help_)} |" for flag, kinds, help_ in rows]
        lines.append("")
    lines += ["## Kinds, settings and recipes", "",
              "A recipe sets some of a kind's settings (its config) and some of its family's training settings; "
              "everything it does not set keeps the default shown. Each setting's line says why.", ""]
    for kind in KINDS.values():
        family = kind.family
        lines += [f"### `{kind.name}` ({family.name} family)", "", kind.about + ".", "",
                  f"best.npz: the {'highest' if kind.select[1] else 'lowest'} `{kind.select[0]}`.", "",
                  "| setting | default | allowed |", "|---|---|---|"]
        lines += [f"| `{name}` | {_cell(_value(kind.defaults[name]))} | {_cell(s.describe())} |"
                  for name, s in kind.settings.items()]
        lines += [f"| `{name}` (training) | {_cell(_value(family.train_defaults[name]))} | {_cell(s.describe())} |"
                  for name, s in family.train_settings.items()]
        lines.append("")
        for name, recipe in kind.recipes.items():
            lines += [f"`--recipe {name}`: {recipe.about}.", ""]
            if recipe.settings:
                lines += ["| setting | value | why |", "|---|---|---|"]
                lines += [f"| `{key}` | {_cell(_value(value))} | {_cell(why)} |"
                          for key, (value, why) in recipe.settings.items()]
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aigc_np.cli.docs", description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="FILE", nargs="?", const=os.path.join("docs", "cli.md"),
                        help="replace everything below the marker in FILE (default docs/cli.md)")
    args = parser.parse_args(argv)
    text = reference_markdown()
    if not args.write:
        sys.stdout.write(text)
        return 0
    with open(args.write, encoding="utf-8") as f:
        head = f.read().split(MARKER)[0]
    with atomic_write(args.write, "w") as f:
        f.write(head.rstrip() + "\n\n" + MARKER + "\n\n" + text)
    print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
