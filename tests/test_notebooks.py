"""make notebooks: every lesson becomes a valid nbformat 4 notebook that runs as a kernel would run it."""
import ast
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import types

import pytest

from aigc_np.plotting import in_kernel, plt, save_figure
from aigc_np.tools.notebooks import convert, lesson_cells, root_cell, to_notebook

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LESSONS = sorted(glob.glob(os.path.join(ROOT, "lessons", "[0-9][0-9]_*.py")))
CELL_ID = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")


def check_nbformat4(nb):
    """The required keys and types of nbformat 4.5 (the subset of its JSON schema a notebook of
    unexecuted markdown and code cells uses); AssertionError naming the first violation."""
    assert isinstance(nb, dict) and set(nb) == {"cells", "metadata", "nbformat", "nbformat_minor"}, sorted(nb)
    assert nb["nbformat"] == 4 and nb["nbformat_minor"] == 5
    meta = nb["metadata"]
    assert isinstance(meta, dict) and {"kernelspec", "language_info"} <= set(meta)
    assert isinstance(meta["kernelspec"].get("name"), str) and isinstance(meta["kernelspec"].get("display_name"), str)
    assert isinstance(meta["language_info"].get("name"), str)
    assert isinstance(nb["cells"], list) and nb["cells"]
    required = {"markdown": {"cell_type", "id", "metadata", "source"},
                "code": {"cell_type", "id", "metadata", "source", "execution_count", "outputs"}}
    ids = set()
    for i, cell in enumerate(nb["cells"]):
        assert cell.get("cell_type") in required, (i, cell.get("cell_type"))
        assert set(cell) == required[cell["cell_type"]], (i, sorted(cell))  # the schema allows no other keys
        assert isinstance(cell["id"], str) and CELL_ID.match(cell["id"]) and cell["id"] not in ids, (i, cell["id"])
        ids.add(cell["id"])
        assert isinstance(cell["metadata"], dict)
        source = cell["source"]
        assert isinstance(source, str) or (isinstance(source, list) and all(isinstance(s, str) for s in source))
        if isinstance(source, list):  # Jupyter joins the pieces as they are: each but the last ends its line
            assert all(s.endswith("\n") for s in source[:-1]) and "\n" not in "".join(s[:-1] for s in source[:-1])
        if cell["cell_type"] == "code":
            assert cell["execution_count"] is None or isinstance(cell["execution_count"], int)
            assert isinstance(cell["outputs"], list)


def text_of(cell):
    return "".join(cell["source"])


def test_the_checker_catches_what_jupyter_would_reject():
    good = to_notebook([("markdown", "# Title"), ("code", "x = 1")])
    check_nbformat4(good)
    broken = [
        {**good, "nbformat": 3},
        {k: v for k, v in good.items() if k != "metadata"},
        {**good, "cells": [{**good["cells"][1], "outputs": None}]},
        {**good, "cells": [{k: v for k, v in good["cells"][1].items() if k != "execution_count"}]},
        {**good, "cells": [good["cells"][0], {**good["cells"][1], "id": good["cells"][0]["id"]}]},
        {**good, "cells": [{**good["cells"][0], "source": ["a", "b"]}]},
    ]
    for nb in broken:
        with pytest.raises(AssertionError):
            check_nbformat4(nb)


SAMPLE = '''"""Lesson 99: a title.

A paragraph.
"""
# %% [markdown]
# ## 1. Setup
#
# Some *markdown*.

# %%
import os

x = 1  # a comment stays in the code


# %% [markdown]
# ## 2. Code after markdown without a marker

def f():
    return x
'''


def test_cells_of_a_small_lesson():
    assert lesson_cells(SAMPLE) == [
        ("markdown", "# Lesson 99: a title.\n\nA paragraph."),
        ("markdown", "## 1. Setup\n\nSome *markdown*."),
        ("code", "import os\n\nx = 1  # a comment stays in the code"),
        ("markdown", "## 2. Code after markdown without a marker"),
        ("code", "def f():\n    return x"),
    ]


@pytest.mark.parametrize("lesson", LESSONS, ids=os.path.basename)
def test_every_lesson_converts_to_valid_nbformat_4(lesson, tmp_path):
    path = convert(lesson, str(tmp_path))
    assert os.path.basename(path) == os.path.basename(lesson)[:-3] + ".ipynb"
    nb = json.loads(open(path, encoding="utf-8").read())
    check_nbformat4(nb)
    assert [c["cell_type"] for c in nb["cells"]].count("code") >= 3
    # the title, then the cell that moves the kernel to the project's root, then the lesson
    assert [text_of(c) for c in nb["cells"][1:2]] == [root_cell(lesson, str(tmp_path))]
    assert [text_of(c) for c in nb["cells"][:1] + nb["cells"][2:]] == [text for _, text in lesson_cells(
        open(lesson, encoding="utf-8").read(), lesson)]


@pytest.mark.parametrize("lesson", LESSONS, ids=os.path.basename)
def test_the_cells_in_order_give_back_the_lesson(lesson):
    text = open(lesson, encoding="utf-8").read()
    cells = to_notebook(lesson_cells(text, lesson))["cells"]
    tree = ast.parse(text)
    docstring, body_start = ast.get_docstring(tree), tree.body[0].end_lineno
    # The first cell is the docstring, its first line a heading.
    assert cells[0]["cell_type"] == "markdown" and text_of(cells[0]).splitlines()[0] == "# " + docstring.splitlines()[0]
    assert text_of(cells[0]).splitlines()[1:] == docstring.splitlines()[1:]
    # Joined in order, the code cells are the lesson's code (the same program, docstring aside) ...
    code = "\n".join(text_of(c) for c in cells if c["cell_type"] == "code")
    tree.body = tree.body[1:]
    assert ast.dump(ast.parse(code)) == ast.dump(tree)
    # ... and every line of the lesson after the docstring is in one cell, in order:
    # markdown lines with their "# " put back, code lines as they are.
    rebuilt = []
    for cell in cells[1:]:
        for line in text_of(cell).splitlines():
            rebuilt.append(("# " + line if line else "#") if cell["cell_type"] == "markdown" else line)
    lines = text.splitlines()[body_start:]
    assert [ln for ln in rebuilt if ln.strip()] == [ln for ln in lines if ln.strip() and not ln.startswith("# %%")]


@pytest.mark.parametrize("lesson", LESSONS, ids=os.path.basename)
def test_markdown_cells_hold_the_markdown(lesson):
    text = open(lesson, encoding="utf-8").read()
    cells = lesson_cells(text, lesson)
    lines = text.splitlines()
    # What each "# %% [markdown]" marker opens: its comment lines, the "# " removed.
    expected = []
    for i, line in enumerate(lines):
        if line.startswith("# %% [markdown]"):
            block = []
            for following in lines[i + 1:]:
                if following.startswith("# %%") or (following.strip() and not following.startswith("#")):
                    break
                block.append(following[2:] if following.startswith("# ") else following.lstrip("#"))
            expected.append("\n".join(block).strip("\n"))
    markdown = [source for kind, source in cells[1:] if kind == "markdown"]
    assert markdown == expected
    assert len(markdown) >= 3


KERNEL = r'''
import json, sys, types
notebook = sys.argv[1]
# What a Jupyter kernel does: it starts in the notebook's folder, with its own
# arguments in sys.argv, an IPython shell that has a kernel, and a fresh
# __main__ namespace in which the code cells run one after the other.
sys.argv = ["ipykernel_launcher.py", "--quick", "-f", "/tmp/kernel-1234.json"]
# (matplotlib's pyplot, seeing an IPython, registers a hook with its shell)
shell = types.SimpleNamespace(kernel=object(), events=types.SimpleNamespace(register=lambda *args: None),
                              enable_gui=lambda *args: None)
sys.modules["IPython"] = types.SimpleNamespace(get_ipython=lambda: shell, version_info=(8, 30))
main = types.ModuleType("__main__", "Automatically created module for IPython interactive environment")
sys.modules["__main__"] = main
for i, cell in enumerate(json.load(open(notebook))["cells"]):
    if cell["cell_type"] == "code":
        exec(compile("".join(cell["source"]), f"<cell {i}>", "exec"), main.__dict__)
import matplotlib.pyplot as plt
print("OPEN FIGURES", len(plt.get_fignums()))  # the inline backend would show them
'''


def test_a_generated_notebook_runs_as_a_kernel_would(tmp_path):
    """Lesson 02's notebook, its code cells run in order in a plain Python process started in the
    notebook's folder with the kernel's "-f kernel.json" in sys.argv, prints the same RESULT line
    as the script with --quick, writes its files where the script does, and leaves its figures
    open for the kernel's inline backend to show."""
    project = tmp_path / "project"  # a project's lessons/ and notebooks/; the package and data from ROOT
    (project / "lessons").mkdir(parents=True)
    lesson = project / "lessons" / "02_mlp_classifier.py"
    lesson.write_text(open(os.path.join(ROOT, "lessons", "02_mlp_classifier.py"), encoding="utf-8").read())
    notebook = convert(str(lesson), str(project / "notebooks"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p),
           "MPLBACKEND": "Agg"}
    as_notebook = subprocess.run([sys.executable, "-c", KERNEL, notebook], cwd=project / "notebooks", env=env,
                                 capture_output=True, text=True, timeout=300)
    assert as_notebook.returncode == 0, as_notebook.stderr[-3000:]
    assert not (project / "notebooks" / "out").exists()
    written = sorted(os.listdir(project / "out" / "quick" / "02_mlp_classifier"))
    assert any(name.endswith(".png") for name in written)
    shown = re.search(r"^OPEN FIGURES (\d+)$", as_notebook.stdout, re.M)
    assert shown and int(shown[1]) >= 1
    shutil.rmtree(project / "out")
    as_script = subprocess.run([sys.executable, "lessons/02_mlp_classifier.py", "--quick"], cwd=project, env=env,
                               capture_output=True, text=True, timeout=300)
    assert as_script.returncode == 0, as_script.stderr[-3000:]
    results = [[ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")] for run in (as_notebook, as_script)]
    assert len(results[0]) == 1 and results[0] == results[1]
    assert sorted(os.listdir(project / "out" / "quick" / "02_mlp_classifier")) == written


def test_the_root_cell_moves_a_kernel_to_the_project_root_once(tmp_path, monkeypatch):
    (tmp_path / "lessons").mkdir()
    (tmp_path / "notebooks").mkdir()
    lesson = tmp_path / "lessons" / "01_x.py"
    lesson.write_text('"""Lesson 01."""\n')
    code = root_cell(str(lesson), str(tmp_path / "notebooks"))
    monkeypatch.chdir(tmp_path / "notebooks")
    exec(code, {})
    assert os.getcwd() == str(tmp_path)
    exec(code, {})  # run again: it stays
    assert os.getcwd() == str(tmp_path)


def test_save_figure_closes_the_figure_except_in_a_jupyter_kernel(tmp_path, monkeypatch):
    """A kernel's inline backend shows the figures still open at the end of a cell; IPython is detected
    only if it is already imported (a kernel's shell has a kernel, a terminal IPython's has none)."""
    assert not in_kernel()
    fig = plt.figure()
    save_figure(fig, tmp_path / "a.png")
    assert not plt.fignum_exists(fig.number)
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: types.SimpleNamespace()))
    assert not in_kernel()
    monkeypatch.setitem(sys.modules, "IPython",
                        types.SimpleNamespace(get_ipython=lambda: types.SimpleNamespace(kernel=object())))
    assert in_kernel()
    fig = plt.figure()
    assert save_figure(fig, tmp_path / "b.png") == str(tmp_path / "b.png") and (tmp_path / "b.png").exists()
    assert plt.fignum_exists(fig.number)
    plt.close(fig)
