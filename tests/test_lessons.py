"""Every lesson follows the house rules in its code: the common options and one RESULT line.

Read from the source (not run: CI runs ``make lessons-quick``): each lesson builds its
parser with ``aigc_np.course.lesson`` (so it takes --quick, --threads, --seed and --out),
ends with one ``print_result`` call as its last statement, and reads no other object's
private state (a lesson shows what a layer exposes, e.g. ``attention_weights``, ``gates``).
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))
HELPERS = {"lesson_parser", "parse_lesson_args", "print_result"}


def calls(tree: ast.AST, name: str) -> list:
    """Every call of ``name(...)`` or ``something.name(...)`` in the tree."""
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and (getattr(n.func, "id", None) == name or getattr(n.func, "attr", None) == name)]


def lesson_problems(source: str, stem: str) -> list:
    """What breaks the house rules in a lesson's source (``stem``: its file name without .py)."""
    tree, problems = ast.parse(source), []
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module == "aigc_np.course.lesson" for alias in node.names}
    if HELPERS - imported:
        problems.append(f"does not import {sorted(HELPERS - imported)} from aigc_np.course.lesson")
    for name in ("lesson_parser", "parse_lesson_args", "print_result"):
        if len(calls(tree, name)) != 1:
            problems.append(f"calls {name} {len(calls(tree, name))} times, expected once")
    for parser in calls(tree, "lesson_parser"):
        out = [k.value for k in parser.keywords if k.arg == "out"] + parser.args[1:2]
        if not (out and isinstance(out[0], ast.Constant) and out[0].value == f"out/{stem}"):
            problems.append(f"lesson_parser's out is not 'out/{stem}'")
    if any(isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names) for node in ast.walk(tree)):
        problems.append("imports argparse: build the parser with lesson_parser")
    for name in ("parse_args", "parse_known_args", "apply_threads"):
        if calls(tree, name):
            problems.append(f"calls {name}: parse_lesson_args parses and sets the threads")
    last = tree.body[-1] if tree.body else None
    if not (isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
            and getattr(last.value.func, "id", None) == "print_result"):
        problems.append("its last statement is not print_result(...)")
    elif not (len(last.value.args) > 1 and isinstance(last.value.args[1], ast.Constant)
              and last.value.args[1].value == stem[:2]):
        problems.append(f"print_result does not name lesson {stem[:2]!r}")
    if any(isinstance(n, ast.Constant) and isinstance(n.value, str) and "RESULT" in n.value for n in ast.walk(tree)):
        problems.append("writes a RESULT line of its own: print_result writes the one line")
    private = sorted({n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr.startswith("_")
                      and not n.attr.startswith("__") and getattr(n.value, "id", None) != "self"})
    if private:
        problems.append(f"reads private state {private}: use (or add) a public accessor")
    return problems


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.name)
def test_lesson_uses_the_common_parser_and_ends_with_one_result_line(lesson):
    problems = lesson_problems(lesson.read_text(encoding="utf-8"), lesson.stem)
    assert not problems, f"lessons/{lesson.name}: " + "; ".join(problems)


GOOD = '''"""Lesson 99: a test."""
from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result

class Mine:
    def f(self):
        return self._cache

args = parse_lesson_args(lesson_parser(__doc__, out="out/99_test"))
print_result(args, "99", "x 1.0", "python lessons/99_test.py")
'''


@pytest.mark.parametrize("change, problem", [
    (("from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result",
      "import argparse\nfrom aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result"),
     "imports argparse"),
    (("args = parse_lesson_args(lesson_parser(__doc__, out=\"out/99_test\"))",
      "args = lesson_parser(__doc__, out=\"out/99_test\").parse_known_args()[0]"), "calls parse_lesson_args 0 times"),
    (('out="out/99_test"', 'out="out/elsewhere"'), "out is not 'out/99_test'"),
    (('print_result(args, "99", "x 1.0", "python lessons/99_test.py")\n',
      'print_result(args, "99", "x 1.0", "python lessons/99_test.py")\nprint("done")\n'), "last statement"),
    (('"99", "x 1.0"', '"98", "x 1.0"'), "does not name lesson '99'"),
    (('print_result(args', 'print("RESULT lesson 99: x")\nprint_result(args'), "a RESULT line of its own"),
    (("return self._cache", "return self._cache\n\nMine()._cache"), "reads private state ['_cache']"),
])
def test_the_check_catches_each_broken_rule(change, problem):
    assert lesson_problems(GOOD, "99_test") == []
    broken = GOOD.replace(*change)
    assert broken != GOOD
    assert any(problem in p for p in lesson_problems(broken, "99_test")), lesson_problems(broken, "99_test")
