"""Jupyter notebooks from the lessons' ``# %%`` cells (``make notebooks``).

A lesson is a plain script split into cells::

    \"\"\"Lesson 01: ...\"\"\"           -> a markdown cell (its first line a heading)
    # %% [markdown]
    # ## 1. Setup                   -> a markdown cell: "## 1. Setup"
    # %%
    import numpy as np              -> a code cell

Each lesson becomes ``notebooks/NN_name.ipynb`` in nbformat 4.5 JSON, written
with the standard library's ``json`` (no Jupyter needed to make them). The
code cells, joined in order, are the lesson's code; the lessons parse their
arguments with ``parse_known_args`` so the kernel's own ``-f kernel.json``
does not stop them, and a notebook runs with the lesson's defaults. Jupyter
starts a kernel in the notebook's folder, so a first code cell moves it to the
project's root: the lesson's files go to ``out/`` there, as when it runs as a
script, and not to ``notebooks/out/``. Figures show inline (``plotting.save_figure``).

``python -m aigc_np.tools.notebooks --out notebooks lessons/*.py``
"""
from __future__ import annotations

import argparse
import ast
import glob
import json
import os
import re
import sys

__all__ = ["lesson_cells", "root_cell", "to_notebook", "convert"]

MARKER = re.compile(r"^# %%(?P<rest>.*)$")
NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python", "file_extension": ".py", "mimetype": "text/x-python"},
}


def _trim(lines: list[str]) -> list[str]:
    """Drop the blank lines at both ends."""
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def lesson_cells(text: str, where: str = "<lesson>") -> list[tuple[str, str]]:
    """[(cell_type, source)] of a lesson, in order: "markdown" or "code".

    The module docstring becomes a markdown cell whose first line is a ``# ``
    heading. A ``# %% [markdown]`` cell's markdown is its comment lines
    without the leading ``# ``; code that follows them before the next
    ``# %%`` becomes a code cell of its own. Code cells keep their lines as
    they are; blank lines at either end of a cell are dropped.
    """
    lines = text.splitlines()
    tree = ast.parse(text, where)
    cells, start = [], 0
    if tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant) \
            and isinstance(tree.body[0].value.value, str):
        doc = ast.get_docstring(tree).splitlines()
        cells.append(("markdown", "\n".join([f"# {doc[0]}", *doc[1:]])))
        if any(line.strip() for line in lines[:tree.body[0].lineno - 1]):
            raise ValueError(f"{where}:1: expected the module docstring first, found other lines before it")
        start = tree.body[0].end_lineno
    kind, body = "code", []  # code before the first marker is a code cell
    for i in range(start, len(lines) + 1):
        marker = MARKER.match(lines[i]) if i < len(lines) else None
        if marker or i == len(lines):
            if kind == "markdown":
                # Code after a markdown cell's comments, with no "# %%" of its own, is a code cell.
                code = next((j for j, line in enumerate(body) if line.strip() and not line.startswith("#")),
                            len(body))
                markdown = _trim([line[2:] if line.startswith("# ") else line[1:] for line in body[:code]])
                if markdown:
                    cells.append(("markdown", "\n".join(markdown)))
                body = body[code:]
            body = _trim(body)
            if body:
                cells.append(("code", "\n".join(body)))
            if marker:
                kind = "markdown" if marker["rest"].strip().startswith("[markdown]") else "code"
                body = []
        else:
            body.append(lines[i])
    return cells


def _source(text: str) -> list[str]:
    """Jupyter's multi-line string: the lines, each but the last ending in a newline."""
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def to_notebook(cells: list[tuple[str, str]]) -> dict:
    """An nbformat 4.5 notebook (a JSON-ready dict) with unexecuted code cells."""
    out = []
    for i, (kind, text) in enumerate(cells):
        cell = {"cell_type": kind, "id": f"cell-{i}", "metadata": {}, "source": _source(text)}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        out.append(cell)
    return {"cells": out, "metadata": NOTEBOOK_METADATA, "nbformat": 4, "nbformat_minor": 5}


def root_cell(lesson: str, out_dir: str) -> str:
    """The code of the cell that moves a kernel started in ``out_dir`` to the project's root.

    The root is the folder above the lesson's (lessons/). Run again, the cell
    changes nothing: from the root, the path it tests does not exist.
    """
    lesson = os.path.abspath(lesson)
    root = os.path.dirname(os.path.dirname(lesson))
    up = os.path.relpath(root, os.path.abspath(out_dir)).replace(os.sep, "/")
    script = os.path.relpath(lesson, root).replace(os.sep, "/")
    return "\n".join([
        "# Jupyter starts this notebook in its own folder: move to the project's root, where",
        f"# `python {script}` runs, so that the lesson writes its files to out/ there.",
        "import os",
        "",
        f"if os.path.isfile({up + '/' + script!r}):",
        f"    os.chdir({up!r})",
    ])


def convert(lesson: str, out_dir: str = "notebooks") -> str:
    """Write ``out_dir/<lesson name>.ipynb`` (atomically) and return its path.

    The lesson's cells, with ``root_cell`` after its title (the docstring's cell).
    """
    from aigc_np.io import atomic_write

    with open(lesson, encoding="utf-8") as f:
        cells = lesson_cells(f.read(), lesson)
    title = 1 if cells and cells[0][0] == "markdown" else 0
    notebook = to_notebook([*cells[:title], ("code", root_cell(lesson, out_dir)), *cells[title:]])
    path = os.path.join(out_dir, os.path.splitext(os.path.basename(lesson))[0] + ".ipynb")
    with atomic_write(path, "wb") as f:
        f.write((json.dumps(notebook, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aigc_np.tools.notebooks", description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", help="lesson scripts (default: lessons/[0-9][0-9]_*.py)")
    parser.add_argument("--out", default="notebooks", help="folder for the .ipynb files")
    args = parser.parse_args(argv)
    lessons = args.lessons or sorted(glob.glob(os.path.join("lessons", "[0-9][0-9]_*.py")))
    if not lessons:
        parser.error("no lessons given and none found in lessons/")
    try:
        for lesson in lessons:
            path = convert(lesson, args.out)
            print(f"wrote {path}")
    except (OSError, SyntaxError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
